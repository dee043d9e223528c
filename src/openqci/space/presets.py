"""Published satellite QKD missions as presets: the QKD system, the free-space link and the operating rules.

Each number carries a tag: [C] read from the paper or its published data, [M] remembered from the paper and
not re-read, [A] our assumption where nothing was published (chosen so the model lands on the published pass,
as the docstring of each preset says). The figures the presets must reproduce, with their sources, are in the
tests (``tests/space/test_presets.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from openqci.physics.devices import Detector, QkdSystem, WeakCoherentSource
from openqci.physics.presets import get_preset
from openqci.space.channel import FreeSpaceLink
from openqci.space.errors import UnknownMissionError

__all__ = ["MISSIONS", "SpaceMission", "get_mission"]


@dataclass(frozen=True)
class SpaceMission:
    """A downlink decoy-BB84 mission: the satellite's source, the ground receiver and how it is operated.

    Attributes
    ----------
    name
        Registry name.
    system
        Source, detectors, misalignment and error-correction efficiency (the physics record).
    link
        The free-space link parameters.
    altitude_km, inclination_deg
        The nominal orbit, for building a satellite from elements when no TLE is given.
    ground_aperture_m
        Diameter of the ground telescope the mission used.
    min_elevation_deg
        Lowest elevation at which the mission made key.
    night_sky_radiance, day_sky_radiance
        Sky spectral radiance at the wavelength (W m^-2 sr^-1 nm^-1) at night and by day.
    filter_bandwidth_nm, detection_window_s
        Receiver spectral filter and timing window per pulse.
    epsilon_sec, epsilon_cor
        Security parameters of the finite-key analysis (of the whole key, both bases together).
    key_from_both_bases
        Make key in both bases, each estimating the other's phase error (symmetric BB84, basis choice 1/2);
        otherwise only the X basis makes key.
    reference
        Where the numbers come from.
    """

    name: str
    system: QkdSystem
    link: FreeSpaceLink
    altitude_km: float
    inclination_deg: float
    ground_aperture_m: float
    min_elevation_deg: float
    night_sky_radiance: float
    day_sky_radiance: float
    filter_bandwidth_nm: float
    detection_window_s: float
    epsilon_sec: float = 1e-9
    epsilon_cor: float = 1e-15
    key_from_both_bases: bool = True
    reference: str = ""


MICIUS2017 = SpaceMission(
    name="micius2017",
    system=replace(get_preset("micius2017"), ec_efficiency=1.16),
    link=FreeSpaceLink(
        wavelength_nm=848.62,
        transmitter_aperture_m=0.30,
        beam_quality_m2=2.8,
        pointing_jitter_urad=1.0,
        zenith_loss_db=0.48,
        r0_zenith_500nm_m=0.04,
        receiver_fov_urad=16.0,
        transmitter_optics_loss_db=3.0,
        receiver_optics_loss_db=10.5,
    ),
    altitude_km=500.0,
    inclination_deg=97.4,
    ground_aperture_m=1.0,
    min_elevation_deg=10.0,
    night_sky_radiance=1e-7,
    day_sky_radiance=1e-2,
    filter_bandwidth_nm=1.0,
    detection_window_s=1e-9,
    reference=(
        "Liao et al., Nature 549, 43 (2017): 100 MHz decoy BB84 at 848.62 nm, 0.8/0.1/0 with 0.5/0.25/0.25 "
        "[C, QNET reproduction]; 300 mm transmitter, ~10 urad divergence (M^2 2.8 gives 10 urad full angle) "
        "and "
        "1 m Xinglong telescope [M]; ~500 km sun-synchronous orbit [S]; zenith extinction 0.48 dB at 850 nm "
        "(MODTRAN, SatQuMA) [C]; pointing jitter 1 urad, Xinglong r0 4 cm at 500 nm (~2.5 arcsec seeing), "
        "16 urad field stop, optics 3 + 10.5 dB, 1 nm filter, 1 ns window, sky radiance 1e-7 (night) and "
        "1e-2 (day) W/m^2/sr/nm [A], chosen so the link loss runs from ~30 dB at 645 km to ~40 dB at "
        "1200 km as in the published link-efficiency curve"
    ),
)
"""Micius and the Xinglong station (Liao et al. 2017)."""

JINAN1_2025 = SpaceMission(
    name="jinan1",
    system=QkdSystem(
        name="jinan1",
        source=WeakCoherentSource(
            repetition_rate_hz=625e6,
            intensities=(0.8, 0.1, 0.0),
            probabilities=(0.5, 0.25, 0.25),
            wavelength_nm=850.0,
        ),
        detector=Detector(efficiency=0.5, dark_count_prob=1e-7),
        misalignment=0.01,
        ec_efficiency=1.16,
        basis_prob_x=0.5,
        reference="Li et al., Nature 640, 47 (2025); see the mission's reference",
    ),
    link=FreeSpaceLink(
        wavelength_nm=850.0,
        transmitter_aperture_m=0.15,
        beam_quality_m2=1.5,
        pointing_jitter_urad=1.0,
        zenith_loss_db=0.48,
        r0_zenith_500nm_m=0.05,
        receiver_fov_urad=30.0,
        transmitter_optics_loss_db=3.0,
        receiver_optics_loss_db=6.0,
    ),
    altitude_km=500.0,
    inclination_deg=97.4,
    ground_aperture_m=0.28,
    min_elevation_deg=10.0,
    night_sky_radiance=1e-7,
    day_sky_radiance=1e-2,
    filter_bandwidth_nm=1.0,
    detection_window_s=1e-9,
    reference=(
        "Li et al., 'Microsatellite-based real-time QKD', Nature 640, 47 (2025): ~23 kg payload, ~100 kg "
        "portable ground station, up to 1.07 Mbit of secure key in one pass [C]; ~500 km sun-synchronous "
        "orbit [S]; ~250 million signal photons/s, i.e. 625 MHz at mu 0.8 sent half the time [M]; 850 nm, "
        "150 mm transmitter, 280 mm portable receiver [M]; beam quality, pointing, seeing, field stop, "
        "optics losses, detectors and sky radiance [A], chosen so a high pass yields about the published key"
    ),
)
"""The Jinan-1 quantum microsatellite and a portable ground station (Li et al. 2025)."""

MISSIONS: dict[str, SpaceMission] = {
    "jinan1": JINAN1_2025,
    "micius2017": MICIUS2017,
}


def get_mission(name: str) -> SpaceMission:
    """Return the mission preset called ``name``.

    Raises
    ------
    UnknownMissionError
        If there is no such mission; the message lists the valid names.
    """
    try:
        return MISSIONS[name]
    except KeyError:
        valid = ", ".join(sorted(MISSIONS))
        raise UnknownMissionError(f"unknown mission preset {name!r}; choose one of: {valid}") from None
