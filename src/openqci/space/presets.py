"""Published satellite QKD missions as presets: the QKD system, the free-space link and the operating rules.

Each number carries a tag saying how it is known:

* [C] read in the paper, or in data published with it;
* [Q] the paper's own sentence, read as quoted word for word in a public third-party source (which section
  it is in is given where known); the paper itself was not opened;
* [S] secondary: from a third-party reproduction (a simulator's example, a news report);
* [M] remembered from the paper and not re-read;
* [A] assumed where nothing was published;
* [F] fitted: not published, chosen so that the model reproduces the published numbers the preset's comment
  names. Matching those numbers checks the fit (calibration), not the model; the tests that do so are named
  ``test_calibration_...``, and those that check numbers the fit did not use ``test_validation_...``, in
  ``tests/space/test_channel.py`` and ``tests/space/test_pass_key.py``.
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


# Micius and the Xinglong station: Liao et al., "Satellite-to-ground quantum key distribution", Nature 549,
# 43 (2017), arXiv 1707.00542, and its pass of 19 December 2016.
#
# Fitted [F]: pointing jitter, r0, field stop and the two optics losses were chosen together so that the
# link loss (transmitter output to detector input) is ~30 dB at 645 km and ~40 dB at 1200 km, the two ends
# of the measured link-efficiency curve (tests: test_calibration_micius_...); the beam quality only turns
# the 300 mm aperture into the published ~10 urad divergence. The curve is a weak source: it is a
# third-party digitisation of the paper's plot of link efficiency against distance (QNET, Baidu QCompute,
# Extensions/QuantumNetwork/examples/data/micius2017_link_efficiency.csv); the digitiser does not say which
# figure it read, and its 1200 km end (40.3 dB) sits on a rise of 1.4 dB over its last 2.3 km (39.0 dB at
# 1197.7 km).
#
# Not used by the fit, and so checked as validation (tests: test_validation_micius_...), all [Q] from the
# text of arXiv 1707.00542: the sifted key rate "from ~12 kbit/s at 645 km to ~1 kbit/s at 1200 km"; the
# pass totals, 3,551,136 detections and 1,671,072 sifted bits in 273 s, and 300,939 bits of final key at a
# statistical failure probability of 1e-9 (the key figure used to be carried as remembered; it is now read
# as quoted); and the share of the loss at 1200 km due to atmospheric absorption and turbulence (3 to 8 dB)
# and to pointing (less than 3 dB).
#
# Where the fit departs from what the paper prints [Q]: diffraction loss estimated at 22 dB at 1200 km
# (here 18.7 dB, 19.3 dB with the jitter); overall ground optical efficiency ~16 %, i.e. 8.0 dB (fitted
# receiver optics: 10.5 dB); mean photon numbers given at the output of the transmit telescope, so the
# paper's budget has no transmitter optics after them (fitted: 3 dB); a 2 ns time window (1 ns here [A];
# 2 ns changes the pass key by less than 0.1 %). These errors compensate: the total follows the curve, the
# split between the terms does not.
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
        "Liao et al., Nature 549, 43 (2017), arXiv 1707.00542: 100 MHz decoy BB84 at 848.62 nm, "
        "0.8/0.1/0 with 0.5/0.25/0.25 [C, QNET reproduction; the text gives 848.6 nm, Q]; 300 mm "
        "transmitter, ~10 urad divergence, 1 m Xinglong telescope [Q]; beam quality 2.8 (it gives that "
        "10 urad full angle); ~500 km sun-synchronous orbit [S]; zenith extinction 0.48 dB at 850 nm "
        "(MODTRAN, as distributed with SatQuMA) [C]; pointing jitter 1 urad (the text: tracking accuracy "
        "~1.2 urad, Q), Xinglong r0 4 cm at 500 nm, 16 urad field stop, optics 3 + 10.5 dB [F], fitted so "
        "that the link loss runs from ~30 dB at 645 km to ~40 dB at 1200 km as in the third-party "
        "digitisation of the paper's link-efficiency curve; 1 nm filter, 1 ns window, sky radiance 1e-7 "
        "(night) and 1e-2 (day) W/m^2/sr/nm [A]; key from both bases [A]; epsilon_sec 1e-9, the paper's "
        "failure probability [Q]"
    ),
)
"""Micius and the Xinglong station (Liao et al. 2017)."""

# Jinan-1 and a portable ground station: Li et al., "Microsatellite-based real-time quantum key distribution",
# Nature 640, 47 (2025), arXiv 2408.10994. Only the abstract was read [C]: ~23 kg payload, ~100 kg portable
# station, up to 1.07 Mbit of secure key in a single pass (the arXiv v1 abstract said 0.59 Mbit).
#
# Fitted [F]: beam quality, pointing, seeing, field stop, optics losses, detector efficiency and dark counts
# and sky radiance, chosen so that a high pass (culminating at 85 deg, used above 10 deg) yields about
# 1.07 Mbit (test: test_calibration_jinan1_key_of_a_high_pass). No published number outside the fit was
# available to validate against; the source rate, wavelength and apertures are remembered [M], not read.
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
        reference="Li et al., Nature 640, 47 (2025); see the mission's reference and comment",
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
        "Li et al., 'Microsatellite-based real-time QKD', Nature 640, 47 (2025), arXiv 2408.10994: ~23 kg "
        "payload, ~100 kg portable ground station, up to 1.07 Mbit of secure key in one pass [C, abstract]; "
        "~500 km sun-synchronous orbit [S]; ~250 million signal photons/s, i.e. 625 MHz at mu 0.8 sent half "
        "the time [M]; 850 nm, 150 mm transmitter, 280 mm portable receiver [M]; beam quality, pointing, "
        "seeing, field stop, optics losses, detectors and sky radiance [F], fitted so that a high pass "
        "yields about the published 1.07 Mbit; misalignment 1 %, f 1.16, 1 nm filter, 1 ns window [A]"
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
