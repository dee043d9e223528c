"""The space segment: orbits, stations, passes, the free-space link and its fading, per-pass key and relays.

Satellites are nodes of the same network as fibre links: a pass over a ground station is a link that exists
for a few minutes, whose key comes from the free-space channel and the finite-key bound on the whole pass,
and a satellite that meets two stations on different passes relays key between them as a trusted node.
"""

from __future__ import annotations

from openqci.space.atmosphere import airmass, atmospheric_loss_db, fried_parameter_m, seeing_loss_db
from openqci.space.background import background_count_prob
from openqci.space.channel import (
    FreeSpaceChannel,
    FreeSpaceLink,
    LinkBudget,
    geometric_loss_db,
    link_budget,
    link_fading,
)
from openqci.space.errors import (
    InvalidLinkError,
    InvalidStationError,
    InvalidTleError,
    InvalidWindowError,
    PropagationError,
    RelayError,
    SpaceError,
    UnknownMissionError,
)
from openqci.space.orbits import Satellite, parse_tle_text
from openqci.space.pass_key import PassKey, PassProfile, pass_key, pass_profile
from openqci.space.passes import Pass, PassTrack, find_passes, look_at, pass_track
from openqci.space.presets import MISSIONS, SpaceMission, get_mission
from openqci.space.relay import RelayOutcome, recover_relayed_key, relay_key, xor_keys
from openqci.space.search import find_windows, maximise_in_windows
from openqci.space.stations import NIGHT_SUN_ELEVATION_DEG, GroundStation
from openqci.space.sun import sun_direction_ecef, sun_elevation_deg
from openqci.space.turbulence import (
    HV57,
    HufnagelValley,
    LogNormalFading,
    rytov_variance,
    scintillation_index,
)

__all__ = [
    "HV57",
    "MISSIONS",
    "NIGHT_SUN_ELEVATION_DEG",
    "FreeSpaceChannel",
    "FreeSpaceLink",
    "GroundStation",
    "HufnagelValley",
    "InvalidLinkError",
    "InvalidStationError",
    "InvalidTleError",
    "InvalidWindowError",
    "LinkBudget",
    "LogNormalFading",
    "Pass",
    "PassKey",
    "PassProfile",
    "PassTrack",
    "PropagationError",
    "RelayError",
    "RelayOutcome",
    "Satellite",
    "SpaceError",
    "SpaceMission",
    "UnknownMissionError",
    "airmass",
    "atmospheric_loss_db",
    "background_count_prob",
    "find_passes",
    "find_windows",
    "fried_parameter_m",
    "geometric_loss_db",
    "get_mission",
    "link_budget",
    "link_fading",
    "look_at",
    "maximise_in_windows",
    "parse_tle_text",
    "pass_key",
    "pass_profile",
    "pass_track",
    "recover_relayed_key",
    "relay_key",
    "rytov_variance",
    "scintillation_index",
    "seeing_loss_db",
    "sun_direction_ecef",
    "sun_elevation_deg",
    "xor_keys",
]
