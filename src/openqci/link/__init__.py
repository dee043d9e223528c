"""A QKD link that makes real key: detection events, sifting, estimation, error correction, verification,
privacy amplification, authentication, and the eavesdroppers it must catch.

Steps are modules of their own (:mod:`~openqci.link.sampler`, :mod:`~openqci.link.sifting`,
:mod:`~openqci.link.estimation`, :mod:`~openqci.link.cascade`, :mod:`~openqci.link.verification`,
:mod:`~openqci.link.privacy`, :mod:`~openqci.link.auth`, :mod:`~openqci.link.eve`);
:class:`~openqci.link.session.LinkSession` chains them into a stream of blocks, and
:func:`~openqci.link.run.run_link` is the one call behind ``openqci link run``.
"""

from __future__ import annotations

from openqci.keysource import (
    KeyBlock,
)
from openqci.link import _jit_setup  # noqa: F401  (numba must find its cache directory chosen)
from openqci.link.auth import (
    KEY_BITS_PER_WORD,
    MERSENNE_61,
    AuthKeyPool,
    polynomial_digest,
    wegman_carter_tag,
)
from openqci.link.cascade import (
    CASCADE_VARIANTS,
    DEFAULT_CASCADE_VARIANT,
    BlockRule,
    Cascade,
    CascadeVariant,
)
from openqci.link.channel import (
    ClassicalChannel,
    End,
    InProcessChannel,
    TamperingChannel,
)
from openqci.link.errors import (
    AuthenticationKeyError,
    InvalidLinkParameterError,
    LinkError,
    ReconcilerUnavailableError,
)
from openqci.link.estimation import (
    ParameterEstimate,
    estimate_parameters,
    secret_key_length,
)
from openqci.link.eve import (
    EAVESDROPPERS,
    ClassicalTampering,
    InterceptResend,
    PhotonNumberSplitting,
    parse_eavesdropper,
)
from openqci.link.photons import (
    MAX_PHOTONS,
    AttackContext,
    PulseGroups,
    QuantumAttack,
    honest_groups,
)
from openqci.link.privacy import (
    HashBackend,
    ToeplitzFamily,
    amplify_privacy,
    default_backend,
    seed_bits,
    seed_spectrum,
    toeplitz_hash,
    toeplitz_seed,
)
from openqci.link.reconciliation import (
    Reconciler,
    ReconciliationResult,
)
from openqci.link.run import (
    RECONCILIATION_METHODS,
    LinkRunReport,
    continuous_link_config,
    make_reconciler,
    run_link,
)
from openqci.link.sampler import (
    AFTERPULSE,
    BASIS_X,
    BASIS_Z,
    DetectionEvents,
    sample_detections,
)
from openqci.link.session import (
    AbortReason,
    BlockOutcome,
    LinkConfig,
    LinkSession,
    TransmissionSlice,
)
from openqci.link.settings import (
    ExpectedBlock,
    expected_counts,
    optimal_settings,
)
from openqci.link.sifting import (
    SiftedKey,
    sift,
)
from openqci.link.verification import (
    verification_tag,
    verification_tag_bits,
)

__all__ = [
    "AFTERPULSE",
    "BASIS_X",
    "BASIS_Z",
    "CASCADE_VARIANTS",
    "DEFAULT_CASCADE_VARIANT",
    "EAVESDROPPERS",
    "KEY_BITS_PER_WORD",
    "MAX_PHOTONS",
    "MERSENNE_61",
    "RECONCILIATION_METHODS",
    "AbortReason",
    "AttackContext",
    "AuthKeyPool",
    "AuthenticationKeyError",
    "BlockOutcome",
    "BlockRule",
    "Cascade",
    "CascadeVariant",
    "ClassicalChannel",
    "ClassicalTampering",
    "DetectionEvents",
    "End",
    "ExpectedBlock",
    "HashBackend",
    "InProcessChannel",
    "InterceptResend",
    "InvalidLinkParameterError",
    "KeyBlock",
    "LinkConfig",
    "LinkError",
    "LinkRunReport",
    "LinkSession",
    "ParameterEstimate",
    "PhotonNumberSplitting",
    "PulseGroups",
    "QuantumAttack",
    "Reconciler",
    "ReconcilerUnavailableError",
    "ReconciliationResult",
    "SiftedKey",
    "TamperingChannel",
    "ToeplitzFamily",
    "TransmissionSlice",
    "amplify_privacy",
    "continuous_link_config",
    "default_backend",
    "estimate_parameters",
    "expected_counts",
    "honest_groups",
    "make_reconciler",
    "optimal_settings",
    "parse_eavesdropper",
    "polynomial_digest",
    "run_link",
    "sample_detections",
    "secret_key_length",
    "seed_bits",
    "seed_spectrum",
    "sift",
    "toeplitz_hash",
    "toeplitz_seed",
    "verification_tag",
    "verification_tag_bits",
    "wegman_carter_tag",
]
