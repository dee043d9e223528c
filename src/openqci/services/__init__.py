"""Services for the QCI's users, built on ETSI GS QKD 014 as clients of a KME.

Nothing here reaches into a KME: applications (and a KME that is itself the SAE of a QKD device) get keys
through :class:`SaeClient`, over mutual TLS, as any ETSI 014 application would. :mod:`.hybrid` joins such
a key with ML-KEM and ECDH secrets into a hybrid key by ETSI TS 103 744; :mod:`.channel` is an encrypted
channel between two applications that rekeys from the KMS, and :mod:`.sealed` seals files for a peer SAE
(``docs/services.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openqci._lazy import lazy_exports

# A KME imports the ETSI 014 client of this package to drive a QKD device; the channel, sealed files
# and hybrid keys it does not use cost every KME process a tenth of a second at start-up, so the
# names below are loaded on first use.
_EXPORTS = {
    "ChannelClosedError": "openqci.services.channel",
    "ChannelConfig": "openqci.services.channel",
    "ChannelConfigError": "openqci.services.channel",
    "ChannelError": "openqci.services.channel",
    "ChannelKeyUnavailableError": "openqci.services.channel",
    "ChannelListener": "openqci.services.channel",
    "ChannelMode": "openqci.services.channel",
    "ChannelReceiver": "openqci.services.channel",
    "ChannelRecordError": "openqci.services.channel",
    "ChannelSender": "openqci.services.channel",
    "ChannelStats": "openqci.services.channel",
    "ChannelTimeoutError": "openqci.services.channel",
    "HybridError": "openqci.services.hybrid_kdf",
    "HybridHello": "openqci.services.hybrid",
    "HybridInitiator": "openqci.services.hybrid",
    "HybridInputError": "openqci.services.hybrid_kdf",
    "HybridKey": "openqci.services.hybrid",
    "HybridQkdUnavailableError": "openqci.services.hybrid",
    "HybridRecord": "openqci.services.hybrid",
    "HybridReply": "openqci.services.hybrid",
    "HybridUnsupportedError": "openqci.services.hybrid_kdf",
    "KeyContainer": "openqci.services.sae_client",
    "KeyStatus": "openqci.services.sae_client",
    "PARAMETER_SETS": "openqci.services.hybrid_kdf",
    "ParameterSet": "openqci.services.hybrid_kdf",
    "QkdKey": "openqci.services.sae_client",
    "QkdPolicy": "openqci.services.hybrid",
    "SaeBadRequestError": "openqci.services.sae_client",
    "SaeClient": "openqci.services.sae_client",
    "SaeClientError": "openqci.services.sae_client",
    "SaeUnauthorizedError": "openqci.services.sae_client",
    "SaeUnavailableError": "openqci.services.sae_client",
    "SealedFile": "openqci.services.sealed",
    "SealedFileError": "openqci.services.sealed",
    "SealingKey": "openqci.services.sealed",
    "SealingPublicKey": "openqci.services.sealed",
    "derive_hybrid_key": "openqci.services.hybrid",
    "mutual_tls_context": "openqci.services.sae_client",
    "open_file": "openqci.services.sealed",
    "parameter_set": "openqci.services.hybrid_kdf",
    "respond": "openqci.services.hybrid",
    "respond_from_kme": "openqci.services.hybrid",
    "seal_file": "openqci.services.sealed",
}

if TYPE_CHECKING:
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


__getattr__ = lazy_exports(__name__, _EXPORTS)


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
