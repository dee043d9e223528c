"""Checks on enc_keys and dec_keys requests, with the errors GS QKD 014 prescribes.

Each function either returns the request's effective values or raises :class:`BadRequestError` carrying
the standard's fixed message where clause 7 fixes one (``size shall be a multiple of 8``,
``not all extension_mandatory parameters are supported``) and a plain explanation otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
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
    "check_sae_id",
    "check_size",
]

SIZE_NOT_MULTIPLE_OF_8 = "size shall be a multiple of 8"
UNSUPPORTED_MANDATORY_EXTENSION = "not all extension_mandatory parameters are supported"


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


def check_key_ids(key_ids: Sequence[str]) -> list[uuid.UUID]:
    """Parse key_IDs as UUID text; anything else is a bad request."""
    if not key_ids:
        raise BadRequestError("at least one key_ID is needed")
    parsed = []
    for text in key_ids:
        try:
            parsed.append(uuid.UUID(text))
        except ValueError:
            raise BadRequestError("key_ID must be a UUID", [{"key_ID": text}]) from None
    return parsed
