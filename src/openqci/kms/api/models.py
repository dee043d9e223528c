"""The JSON objects of ETSI GS QKD 014 V1.1.1 clause 6, with the standard's field names.

These are the wire side only: key material reaches them from :class:`openqci.kms.records.DeliveredKey`
at the last moment, and no stored field (unit states, served slaves) has a place here. Integer fields are
strict, so ``"number": "3"`` is refused rather than coerced; unknown fields are ignored.
"""

# ruff: noqa: N815  (fields keep the standard's spelling: key_ID, slave_SAE_ID, ...)
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

__all__ = ["Error", "Key", "KeyContainer", "KeyIdEntry", "KeyIds", "KeyRequest", "Status"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Status(_Wire):
    """Status data format (GS QKD 014 clause 6.1, Table 9)."""

    source_KME_ID: str
    target_KME_ID: str
    master_SAE_ID: str
    slave_SAE_ID: str
    key_size: int
    stored_key_count: int
    max_key_count: int
    max_key_per_request: int
    max_key_size: int
    min_key_size: int
    max_SAE_ID_count: int
    status_extension: dict[str, Any] | None = None


class KeyRequest(_Wire):
    """Key request data format (GS QKD 014 clause 6.2, Table 10); every field is optional."""

    number: StrictInt | None = None
    size: StrictInt | None = None
    additional_slave_SAE_IDs: list[StrictStr] | None = None
    extension_mandatory: list[dict[str, Any]] | None = None
    extension_optional: list[dict[str, Any]] | None = None


class Key(_Wire):
    """One entry of a key container: a key_ID (UUID text) and the key, base64 (Table 11)."""

    key_ID: str
    key: str
    key_ID_extension: dict[str, Any] | None = None
    key_extension: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Key(key_ID={self.key_ID!r})"


class KeyContainer(_Wire):
    """Key container data format (GS QKD 014 clause 6.3, Table 11)."""

    keys: list[Key]
    key_container_extension: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"KeyContainer({len(self.keys)} keys)"


class KeyIdEntry(_Wire):
    """One requested key_ID (Table 12)."""

    key_ID: StrictStr
    key_ID_extension: dict[str, Any] | None = None


class KeyIds(_Wire):
    """Key IDs data format (GS QKD 014 clause 6.4, Table 12)."""

    key_IDs: list[KeyIdEntry] = Field(min_length=1)
    key_IDs_extension: dict[str, Any] | None = None


class Error(_Wire):
    """Error data format (GS QKD 014 clause 6.5, Table 13): a message and optional name/value details."""

    message: str
    details: list[dict[str, Any]] | None = None
