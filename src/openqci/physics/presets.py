"""Published QKD systems, as :class:`~openqci.physics.devices.QkdSystem` records.

Each preset names its source. Numbers tagged [M] are from memory of the paper and were not re-read;
numbers tagged [Q] are the paper's own sentence, read as quoted word for word in a public third-party
source (the paper itself not opened); numbers tagged [A] are our own assumption where the paper states
nothing (for instance a clock rate for a paper that only gives rates per pulse), so bits per second can be
quoted. None of these numbers was fitted to a figure that a test checks; the fitted parameters of the
satellite missions are in :mod:`openqci.space.presets`, tagged [F].
"""

from __future__ import annotations

from openqci.physics.devices import Detector, QkdSystem, WeakCoherentSource
from openqci.physics.errors import UnknownPresetError

__all__ = ["PRESETS", "get_preset"]

GYS2004 = QkdSystem(
    name="gys2004",
    source=WeakCoherentSource(
        repetition_rate_hz=2e6,
        intensities=(0.48, 0.1, 0.0),
        probabilities=(0.8, 0.1, 0.1),
        wavelength_nm=1550.0,
    ),
    detector=Detector(efficiency=0.045, dark_count_prob=8.5e-7),
    misalignment=0.033,
    fibre_attenuation_db_per_km=0.21,
    ec_efficiency=1.22,
    basis_prob_x=0.5,
    reference=(
        "Gobby, Yuan, Shields, Appl. Phys. Lett. 84, 3762 (2004), as used in Lo, Ma, Chen, PRL 94, 230504 "
        "(2005): alpha 0.21 dB/km, e_det 3.3 %, Y0 1.7e-6 (two detectors, 8.5e-7 each), eta_Bob 4.5 %, "
        "f 1.22, q 1/2; decoy nu 0.1 with vacuum as in Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005); "
        "clock 2 MHz [M]; intensity probabilities [A]"
    ),
)
"""The parameter set of the Lo-Ma-Chen decoy-state paper (GYS experiment): ~142 km with infinite decoys."""

LIM2014 = QkdSystem(
    name="lim2014",
    source=WeakCoherentSource(
        repetition_rate_hz=1e9,
        intensities=(0.5, 0.1, 2e-4),
        probabilities=(0.7, 0.2, 0.1),
        wavelength_nm=1550.0,
    ),
    detector=Detector(efficiency=0.10, dark_count_prob=6e-7, afterpulse_prob=0.04),
    misalignment=5e-3,
    fibre_attenuation_db_per_km=0.2,
    ec_efficiency=1.16,
    basis_prob_x=0.5,
    reference=(
        "Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Sec. IV: eta_Bob 10 %, p_dc 6e-7, "
        "p_ap 4e-2, 0.2 dB/km, e_mis 5e-3, f_EC 1.16, mu3 2e-4; mu1, mu2, their probabilities and q_x are "
        "optimised by the finite-key model (the listed values are starting points [A]); clock 1 GHz [A]"
    ),
)
"""The simulation parameters of Lim et al. 2014 (concise finite-key bounds, decoy-state BB84)."""

YUAN2018 = QkdSystem(
    name="yuan2018",
    source=WeakCoherentSource(
        repetition_rate_hz=1e9,
        intensities=(0.45, 0.1, 0.0),
        probabilities=(0.8, 0.1, 0.1),
        wavelength_nm=1550.0,
    ),
    detector=Detector(efficiency=0.31, dark_count_prob=4e-6, afterpulse_prob=0.044, dead_time_s=0.0),
    misalignment=0.01,
    fibre_attenuation_db_per_km=0.2,
    receiver_transmittance=0.5,
    ec_efficiency=1.10,
    basis_prob_x=15 / 16,
    reference=(
        "Yuan et al., '10-Mb/s quantum key distribution', J. Lightwave Technol. 36, 3427 (2018): "
        "1 GHz clock, self-differencing InGaAs APDs, efficient (biased-basis) decoy BB84, 13.72 Mb/s "
        "over a 2 dB channel. "
        "Detector efficiency 31 %, afterpulse 4.4 %, basis bias 15/16 [M]; dark-count probability, receiver "
        "optics 3 dB, misalignment 1 % and f 1.10 [A]"
    ),
)
"""A modern 1 GHz InGaAs system from a published high-rate experiment (Mb/s at metro distances)."""

MICIUS2017 = QkdSystem(
    name="micius2017",
    source=WeakCoherentSource(
        repetition_rate_hz=1e8,
        intensities=(0.8, 0.1, 0.0),
        probabilities=(0.5, 0.25, 0.25),
        wavelength_nm=848.62,
    ),
    detector=Detector(efficiency=0.5, dark_count_prob=1e-7, dead_time_s=0.0),
    misalignment=0.01,
    fibre_attenuation_db_per_km=2.0,
    ec_efficiency=1.16,
    basis_prob_x=0.5,
    reference=(
        "Liao et al., 'Satellite-to-ground quantum key distribution', Nature 549, 43 (2017), arXiv "
        "1707.00542: 100 MHz source at 848.62 nm, signal 0.8, decoy 0.1, vacuum 0 sent with probabilities "
        "0.5/0.25/0.25 (parameters of the QNET reproduction; the same in the paper's text [Q]); detector "
        "efficiency 50 % and dark counts below 25 Hz per detector [Q]; dark-count probability 1e-7 per gate "
        "[A] (four detectors at 25 Hz in the paper's 2 ns window give at most 2e-7 per pulse, as two "
        "detectors at 1e-7 do here); misalignment 1 % [M] (the text gives an average QBER of 1.1 %, noise "
        "included [Q]). The free-space channel comes from openqci.space; the fibre attenuation (2 dB/km, "
        "typical of fibre at 850 nm [A]) only matters if this system is put on fibre."
    ),
)
"""The Micius satellite's decoy-BB84 source and ground receiver (satellite-to-ground downlink)."""

PRESETS: dict[str, QkdSystem] = {
    "gys2004": GYS2004,
    "lim2014": LIM2014,
    "yuan2018": YUAN2018,
    "micius2017": MICIUS2017,
}


def get_preset(name: str) -> QkdSystem:
    """Return the preset called ``name``.

    Raises
    ------
    UnknownPresetError
        If there is no such preset; the message lists the valid names.
    """
    try:
        return PRESETS[name]
    except KeyError:
        valid = ", ".join(sorted(PRESETS))
        raise UnknownPresetError(f"unknown preset {name!r}; choose one of: {valid}") from None
