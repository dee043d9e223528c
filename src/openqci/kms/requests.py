"""Checks on enc_keys and dec_keys requests, with the errors GS QKD 014 prescribes.

Each function either returns the request's effective values or raises :class:`BadRequestError` carrying
the standard's fixed message where clause 7 fixes one (``size shall be a multiple of 8``,
``not all extension_mandatory parameters are supported``) and a plain explanation otherwise.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from openqci.kms.config import Limits
from openqci.kms.errors import BadRequestError

__all__ = [
    "SIZE_NOT_MULTIPLE_OF_8",
    "UNSUPPORTED_MANDATORY_EXTENSION",
    "check_additional_slaves",
    "check_extensions",
    "check_key_ids",
    "check_number",
    "check_query",
    "check_sae_id",
    "check_size",
    "parse_decimal",
]

SIZE_NOT_MULTIPLE_OF_8 = "size shall be a multiple of 8"
UNSUPPORTED_MANDATORY_EXTENSION = "not all extension_mandatory parameters are supported"

# RFC 9562 clause 4: 8-4-4-4-12 hexadecimal digits (either case on input). Python's uuid.UUID also takes
# braces, a "urn:uuid:" prefix, no hyphens and non-ASCII digits; none of those is a key_ID here.
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DECIMAL = re.compile(r"[0-9]{1,18}")


def check_sae_id(sae_id: str, what: str) -> str:
    """Refuse a blank SAE ID in the path."""
    if not sae_id.strip():
        raise BadRequestError(f"{what} must not be blank")
    return sae_id


def check_number(number: int | None, limits: Limits) -> int:
    """Return the number of keys asked for (default 1), within ``max_key_per_request``."""
    if number is None:
        return 1
    if not 1 <= number <= limits.max_key_per_request:
        raise BadRequestError(
            f"number must lie between 1 and max_key_per_request ({limits.max_key_per_request}), got {number}"
        )
    return number


def check_size(size: int | None, limits: Limits) -> int:
    """Return the key size in bits (default ``key_size``), a multiple of 8 within the size limits."""
    if size is None:
        return limits.key_size
    if size > 0 and size % 8:
        raise BadRequestError(SIZE_NOT_MULTIPLE_OF_8, [{"size": size}])
    if not limits.min_key_size <= size <= limits.max_key_size:
        raise BadRequestError(
            f"size must lie between min_key_size ({limits.min_key_size}) and "
            f"max_key_size ({limits.max_key_size}) bits, got {size}"
        )
    return size


def check_additional_slaves(
    additional: Sequence[str] | None, master: str, slave: str, limits: Limits
) -> list[str]:
    """Return the additional slave SAE IDs after the checks of the Merqury conformance cases."""
    if additional is None:
        return []
    if not additional:
        raise BadRequestError("additional_slave_SAE_IDs must not be an empty list; leave it out instead")
    if len(additional) > limits.max_SAE_ID_count:
        raise BadRequestError(
            f"at most max_SAE_ID_count ({limits.max_SAE_ID_count}) additional slaves, got {len(additional)}"
        )
    if any(not sae.strip() for sae in additional):
        raise BadRequestError("additional_slave_SAE_IDs must not contain a blank ID")
    if len(set(additional)) != len(additional):
        raise BadRequestError("additional_slave_SAE_IDs must not repeat an ID")
    if master in additional or slave in additional:
        raise BadRequestError("additional_slave_SAE_IDs must not name the master or the slave SAE")
    return list(additional)


def check_extensions(mandatory: Sequence[dict[str, Any]] | None) -> None:
    """Refuse every mandatory extension: this KME supports none."""
    names = [name for extension in mandatory or [] for name in extension]
    if names:
        raise BadRequestError(
            UNSUPPORTED_MANDATORY_EXTENSION, [{"extension_mandatory_unsupported": n} for n in names]
        )


def check_key_ids(key_ids: Sequence[str], limits: Limits) -> list[uuid.UUID]:
    """Parse key_IDs in the canonical UUID text form, at most ``max_key_ids_per_request`` of them.

    The count is checked before anything else, so an oversized list costs no parsing and never reaches
    the store (whose one writer would otherwise be held for the whole list).
    """
    if not key_ids:
        raise BadRequestError("at least one key_ID is needed")
    if len(key_ids) > limits.max_key_ids_per_request:
        raise BadRequestError(
            f"at most max_key_ids_per_request ({limits.max_key_ids_per_request}) key_IDs in one request, "
            f"got {len(key_ids)}; ask in several requests"
        )
    parsed = []
    for text in key_ids:
        if not _CANONICAL_UUID.fullmatch(text):
            shown = text if len(text) <= 64 else text[:64] + "..."
            raise BadRequestError(
                "key_ID must be a UUID in canonical form (8-4-4-4-12 hexadecimal digits)", [{"key_ID": shown}]
            )
        parsed.append(uuid.UUID(text))
    return parsed


def parse_decimal(text: str | None, name: str) -> int | None:
    """A query parameter holding a decimal integer (GS QKD 014 clause 5.2): ASCII digits only.

    ``1.0``, ``+1``, `` 1``, ``0x10`` and non-ASCII digits are refused, where Python's ``int`` and
    pydantic's lax mode would take some of them.
    """
    if text is None:
        return None
    if not _DECIMAL.fullmatch(text):
        shown = text if len(text) <= 32 else text[:32] + "..."
        raise BadRequestError(f"{name} must be a decimal integer (digits 0-9 only)", [{name: shown}])
    return int(text)


def check_query(query: Sequence[tuple[str, str]], allowed: Collection[str]) -> dict[str, str]:
    """Return the query parameters by name; an unknown or repeated one is a bad request.

    GS QKD 014 allows only ``number`` and ``size`` on GET enc_keys and one ``key_ID`` on GET dec_keys;
    everything else (``additional_slave_SAE_IDs``, extensions) goes in the body of the POST form.
    """
    found: dict[str, str] = {}
    for name, value in query:
        if name not in allowed:
            accepted = ", ".join(allowed) or "none"
            raise BadRequestError(
                f"query parameter {name!r} is not supported here (accepted: {accepted}); "
                "other request fields go in the body of the POST form",
                [{"parameter": name[:64]}],
            )
        if name in found:
            raise BadRequestError(f"query parameter {name!r} given more than once", [{"parameter": name}])
        found[name] = value
    return found
