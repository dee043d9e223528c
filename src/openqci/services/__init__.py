"""Services for the QCI's users, built on ETSI GS QKD 014 as clients of a KME.

Nothing here reaches into a KME: applications (and a KME that is itself the SAE of a QKD device) get keys
through :class:`SaeClient`, over mutual TLS, as any ETSI 014 application would. :mod:`.hybrid` joins such
a key with ML-KEM and ECDH secrets into a hybrid key by ETSI TS 103 744; :mod:`.channel` is an encrypted
channel between two applications that rekeys from the KMS, and :mod:`.sealed` seals files for a peer SAE
(``docs/services.md``).
"""

from __future__ import annotations

from openqci.services.channel import (
    ChannelClosedError,
    ChannelConfig,
    ChannelConfigError,
    ChannelError,
    ChannelKeyUnavailableError,
    ChannelListener,
    ChannelMode,
    ChannelReceiver,
    ChannelRecordError,
    ChannelSender,
    ChannelStats,
    ChannelTimeoutError,
)
from openqci.services.hybrid import (
    HybridHello,
    HybridInitiator,
    HybridKey,
    HybridQkdUnavailableError,
    HybridRecord,
    HybridReply,
    QkdPolicy,
    derive_hybrid_key,
    respond,
    respond_from_kme,
)
from openqci.services.hybrid_kdf import (
    PARAMETER_SETS,
    HybridError,
    HybridInputError,
    HybridUnsupportedError,
    ParameterSet,
    parameter_set,
)
from openqci.services.sae_client import (
    KeyContainer,
    KeyStatus,
    QkdKey,
    SaeBadRequestError,
    SaeClient,
    SaeClientError,
    SaeUnauthorizedError,
    SaeUnavailableError,
    mutual_tls_context,
)
from openqci.services.sealed import (
    SealedFile,
    SealedFileError,
    SealingKey,
    SealingPublicKey,
    open_file,
    seal_file,
)

__all__ = [
    "PARAMETER_SETS",
    "ChannelClosedError",
    "ChannelConfig",
    "ChannelConfigError",
    "ChannelError",
    "ChannelKeyUnavailableError",
    "ChannelListener",
    "ChannelMode",
    "ChannelReceiver",
    "ChannelRecordError",
    "ChannelSender",
    "ChannelStats",
    "ChannelTimeoutError",
    "HybridError",
    "HybridHello",
    "HybridInitiator",
    "HybridInputError",
    "HybridKey",
    "HybridQkdUnavailableError",
    "HybridRecord",
    "HybridReply",
    "HybridUnsupportedError",
    "KeyContainer",
    "KeyStatus",
    "ParameterSet",
    "QkdKey",
    "QkdPolicy",
    "SaeBadRequestError",
    "SaeClient",
    "SaeClientError",
    "SaeUnauthorizedError",
    "SaeUnavailableError",
    "SealedFile",
    "SealedFileError",
    "SealingKey",
    "SealingPublicKey",
    "derive_hybrid_key",
    "mutual_tls_context",
    "open_file",
    "parameter_set",
    "respond",
    "respond_from_kme",
    "seal_file",
]
