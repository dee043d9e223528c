"""Air-traffic-control tracks: simulated surveillance over France as ASTERIX CAT062 system-track records.

The Toulouse use case sends the tracks of a radar data processing system from the civil-aviation site in
Toulouse to a control centre in the Paris region over a QKD-keyed channel. This package makes that feed:

* :mod:`.flights` simulates flights departing from and arriving at Toulouse-Blagnac and across France
  (great-circle routes between real airports, climb, cruise and descent from the WRAP performance model),
  many at once with numpy, deterministically from a seed;
* :mod:`.asterix_062` encodes system-track records of CAT062 edition 1.18 with numpy, byte for byte as
  ``libasterix`` does, and decodes them with ``libasterix``;
* :mod:`.feed` puts the two together: ``TrackFeed(seed, flights).records_at(t)`` gives the bytes of every
  track at ``t``, ``records_between(t0, t1)`` the updates due in an interval;
* :mod:`.exchange` sends the feed over the encrypted channel from one SAE to another, checks what arrives
  and reports every key, its route and the records' latency.

``docs/services.md`` (section "Air-traffic-control tracks") describes the items, their resolutions and the
sources of the airport coordinates and aircraft performance figures.
"""

from __future__ import annotations

from openqci.services.atc.airports import AIRPORTS, COVERAGE, HOME, Airport, Coverage
from openqci.services.atc.asterix_062 import (
    CATEGORY,
    DEFAULT_BLOCK_BYTES,
    EDITION,
    FSPEC,
    LSB,
    RECORD_BYTES,
    AsterixError,
    TrackRecords,
    decode_records,
    encode_cat062,
    encode_cat062_libasterix,
    split_blocks,
)
from openqci.services.atc.exchange import (
    MAX_LATENCY_SAMPLES,
    AtcExchange,
    EpochKey,
    ExchangeProgress,
    ExchangeResult,
    ExchangeSettings,
    KeyTaken,
    RoutedSaeClient,
    SecondFigures,
)
from openqci.services.atc.feed import TrackFeed, TrackSource
from openqci.services.atc.flights import Flights, FlightStates, RouteMix, generate_flights
from openqci.services.atc.geo import SYSTEM_REFERENCE, StereographicPlane
from openqci.services.atc.performance import AIRCRAFT, AircraftType

__all__ = [
    "AIRCRAFT",
    "AIRPORTS",
    "CATEGORY",
    "COVERAGE",
    "DEFAULT_BLOCK_BYTES",
    "EDITION",
    "FSPEC",
    "HOME",
    "LSB",
    "MAX_LATENCY_SAMPLES",
    "RECORD_BYTES",
    "SYSTEM_REFERENCE",
    "AircraftType",
    "Airport",
    "AsterixError",
    "AtcExchange",
    "Coverage",
    "EpochKey",
    "ExchangeProgress",
    "ExchangeResult",
    "ExchangeSettings",
    "FlightStates",
    "Flights",
    "KeyTaken",
    "RouteMix",
    "RoutedSaeClient",
    "SecondFigures",
    "StereographicPlane",
    "TrackFeed",
    "TrackRecords",
    "TrackSource",
    "decode_records",
    "encode_cat062",
    "encode_cat062_libasterix",
    "generate_flights",
    "split_blocks",
]
