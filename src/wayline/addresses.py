"""Email addresses and phone numbers in the one form every part compares them in: identities,
the suppression list, the SMS channel. Pure functions, at the bottom of the layering."""

from __future__ import annotations

from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email


def text_of(value: Any) -> str | None:
    """An identity value as kept: a non-blank string (stripped, at most 255 characters) or
    an integer's digits; anything else is no value."""
    if isinstance(value, str) and value.strip():
        return value.strip()[:255]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def normalise_email(value: Any) -> str | None:
    """The compared form of what looks like an address (lower case); not a check of it."""
    text = text_of(value)
    return text.lower() if text and "@" in text else None


def email_address(value: Any) -> str | None:
    """The compared form of an email address, or None when ``value`` is not one by RFC 5321
    and 5322 syntax with a dotted domain (email-validator, without a DNS look-up)."""
    text = text_of(value)
    if not text or "@" not in text:
        return None
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None
    return text.lower()


def normalise_phone(value: Any) -> str | None:
    text = text_of(value)
    if not text:
        return None
    digits = "".join(c for c in text if c.isdigit())
    return ("+" + digits if text.startswith("+") else digits) or None


def e164(number: str, region: str | None) -> str | None:
    """The number in E.164 (``+14155550100``), or None when it is not a valid number."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def normalise(channel: str, address: str, region: str | None = None) -> str:
    """Email addresses without case; phone numbers in E.164 (read in the SMS settings'
    ``default_region`` when written without a country code), else as identities keep them
    (digits, with their ``+``)."""
    text = address.strip()
    if channel == "email":
        return normalise_email(text) or text
    return e164(text, region) or normalise_phone(text) or text
