"""``/api/v1/deadletters``: inbox rows a consumer could not process, of the token's workspace.

A retried letter is taken by its consumer at its next step and applied alone; it goes away
once it succeeds, and is parked again with its new error if not."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from starlette.concurrency import run_in_threadpool

from wayline.api.deps import AdminWorkspace, ServicesDep
from wayline.store.dead_letters import DeadLetterStore
from wayline.store.sql import SqlStore

router = APIRouter(prefix="/api/v1/deadletters", tags=["dead letters"])


def letters_store(services: ServicesDep) -> DeadLetterStore:
    assert isinstance(services.store, SqlStore)
    return DeadLetterStore(services.store)


#: A dead letter's id: a row id, which both stores keep in a signed 64-bit integer.
LetterId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("")
async def list_letters(
    workspace_id: AdminWorkspace,
    services: ServicesDep,
    consumer: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """The workspace's dead letters, oldest first (``consumer`` narrows to one consumer)."""
    letters = await run_in_threadpool(
        letters_store(services).listing, workspace_id=workspace_id, consumer=consumer
    )
    return {"dead_letters": [letter.as_dict() for letter in letters]}


@router.post("/{letter_id}/retry")
async def retry_letter(
    letter_id: LetterId, workspace_id: AdminWorkspace, services: ServicesDep
) -> dict[str, Any]:
    """Ask its consumer to try the row again at its next step (only a parked letter)."""
    store = letters_store(services)
    if not await run_in_threadpool(store.retry, [letter_id], workspace_id):
        found = await run_in_threadpool(store.get, letter_id, workspace_id)
        if found is None:
            raise HTTPException(404, f"no dead letter {letter_id} in this workspace")
        raise HTTPException(409, f"dead letter {letter_id} is already waiting for a retry")
    letter = await run_in_threadpool(store.get, letter_id, workspace_id)
    if letter is None:  # it went through meanwhile
        return {"id": letter_id, "state": "done"}
    return letter.as_dict()


@router.delete("/{letter_id}", status_code=204)
async def drop_letter(
    letter_id: LetterId, workspace_id: AdminWorkspace, services: ServicesDep
) -> None:
    """Forget the letter; its row stays unprocessed by that consumer."""
    if not await run_in_threadpool(letters_store(services).drop, [letter_id], workspace_id):
        raise HTTPException(404, f"no dead letter {letter_id} in this workspace")
