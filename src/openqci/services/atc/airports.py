"""Airports of the simulated traffic, with their reference points.

Coordinates (aerodrome reference points, WGS-84, rounded to 1e-4 degree, about 10 m) and elevations (feet)
are those of OpenFlights' ``data/airports.dat`` (commit ``5a03602``, 2025-04-29), whose rows for these
airports come from OurAirports. The ``weight`` of an airport is a rough share of the traffic it sees at a
busy hour, used only to draw routes; it is this module's choice, not a published figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["AIRPORTS", "COVERAGE", "HOME", "Airport", "Coverage", "airport", "airport_index"]


@dataclass(frozen=True)
class Airport:
    """One airport: ICAO code, name, reference point (degrees), elevation (feet), traffic weight."""

    icao: str
    name: str
    latitude: float
    longitude: float
    elevation_ft: float
    french: bool
    weight: float


def _a(icao: str, name: str, lat: float, lon: float, elev: float, french: bool, weight: float) -> Airport:
    return Airport(icao, name, lat, lon, elev, french, weight)


AIRPORTS: tuple[Airport, ...] = (
    # France (metropolitan and Corsica)
    _a("LFBO", "Toulouse-Blagnac", 43.6291, 1.3638, 499, True, 4.0),
    _a("LFPG", "Paris-Charles de Gaulle", 49.0128, 2.5500, 392, True, 12.0),
    _a("LFPO", "Paris-Orly", 48.7233, 2.3794, 291, True, 7.0),
    _a("LFMN", "Nice-Côte d'Azur", 43.6584, 7.2159, 12, True, 5.0),
    _a("LFLL", "Lyon-Saint-Exupéry", 45.7256, 5.0811, 821, True, 4.0),
    _a("LFML", "Marseille Provence", 43.4393, 5.2214, 74, True, 4.0),
    _a("LFBD", "Bordeaux-Mérignac", 44.8283, -0.7156, 162, True, 3.0),
    _a("LFRS", "Nantes Atlantique", 47.1532, -1.6107, 90, True, 3.0),
    _a("LFSB", "EuroAirport Basel-Mulhouse-Freiburg", 47.5900, 7.5292, 885, True, 3.0),
    _a("LFST", "Strasbourg", 48.5383, 7.6282, 505, True, 1.0),
    _a("LFMT", "Montpellier-Méditerranée", 43.5762, 3.9630, 17, True, 1.5),
    _a("LFBP", "Pau Pyrénées", 43.3800, -0.4186, 616, True, 0.7),
    _a("LFBZ", "Biarritz-Anglet-Bayonne", 43.4683, -1.5311, 245, True, 1.0),
    _a("LFBT", "Tarbes-Lourdes-Pyrénées", 43.1787, -0.0064, 1260, True, 0.5),
    _a("LFMP", "Perpignan-Rivesaltes", 42.7404, 2.8707, 144, True, 0.5),
    _a("LFRB", "Brest Bretagne", 48.4479, -4.4185, 325, True, 1.0),
    _a("LFRN", "Rennes-Saint-Jacques", 48.0695, -1.7348, 124, True, 1.0),
    _a("LFLC", "Clermont-Ferrand Auvergne", 45.7867, 3.1692, 1090, True, 0.7),
    _a("LFQQ", "Lille-Lesquin", 50.5633, 3.0869, 157, True, 1.5),
    _a("LFKJ", "Ajaccio-Napoléon Bonaparte", 41.9236, 8.8029, 18, True, 1.0),
    _a("LFKB", "Bastia-Poretta", 42.5527, 9.4837, 26, True, 1.0),
    _a("LFOB", "Paris Beauvais", 49.4544, 2.1128, 359, True, 1.5),
    _a("LFBH", "La Rochelle-Île de Ré", 46.1792, -1.1953, 74, True, 0.5),
    _a("LFLB", "Chambéry-Savoie", 45.6381, 5.8802, 779, True, 0.5),
    # neighbours and the main European destinations
    _a("EGLL", "London Heathrow", 51.4706, -0.4619, 83, False, 8.0),
    _a("EGKK", "London Gatwick", 51.1481, -0.1903, 202, False, 4.0),
    _a("EGCC", "Manchester", 53.3537, -2.2750, 257, False, 2.0),
    _a("EGPH", "Edinburgh", 55.9500, -3.3725, 135, False, 1.0),
    _a("EIDW", "Dublin", 53.4213, -6.2701, 242, False, 3.0),
    _a("EHAM", "Amsterdam Schiphol", 52.3086, 4.7639, -11, False, 6.0),
    _a("EBBR", "Brussels", 50.9014, 4.4844, 184, False, 3.0),
    _a("EDDF", "Frankfurt am Main", 50.0333, 8.5706, 364, False, 6.0),
    _a("EDDM", "Munich", 48.3538, 11.7861, 1487, False, 4.0),
    _a("EKCH", "Copenhagen Kastrup", 55.6179, 12.6560, 17, False, 2.0),
    _a("LOWW", "Vienna", 48.1103, 16.5697, 600, False, 2.0),
    _a("LSZH", "Zürich", 47.4647, 8.5492, 1416, False, 3.0),
    _a("LSGG", "Geneva", 46.2381, 6.1090, 1411, False, 3.0),
    _a("LIMC", "Milan Malpensa", 45.6306, 8.7281, 768, False, 3.0),
    _a("LIRF", "Rome Fiumicino", 41.8003, 12.2389, 13, False, 4.0),
    _a("LIPZ", "Venice Marco Polo", 45.5053, 12.3519, 7, False, 1.5),
    _a("LEMD", "Madrid-Barajas", 40.4719, -3.5626, 1998, False, 5.0),
    _a("LEBL", "Barcelona", 41.2971, 2.0785, 12, False, 5.0),
    _a("LEPA", "Palma de Mallorca", 39.5517, 2.7388, 27, False, 4.0),
    _a("LEMG", "Málaga", 36.6749, -4.4991, 53, False, 3.0),
    _a("LEAL", "Alicante", 38.2822, -0.5582, 142, False, 2.0),
    _a("LEVC", "Valencia", 39.4893, -0.4816, 240, False, 1.5),
    _a("LEBB", "Bilbao", 43.3011, -2.9106, 138, False, 1.0),
    _a("LPPT", "Lisbon", 38.7813, -9.1359, 374, False, 3.0),
    _a("LPPR", "Porto", 41.2481, -8.6814, 228, False, 1.5),
    _a("GMMN", "Casablanca Mohammed V", 33.3675, -7.5900, 656, False, 1.5),
    _a("DAAG", "Algiers Houari Boumediene", 36.6910, 3.2154, 82, False, 1.5),
    _a("DTTA", "Tunis-Carthage", 36.8510, 10.2272, 22, False, 1.0),
)

HOME = "LFBO"
"""The use case's airport: Toulouse-Blagnac, where the surveillance feed comes from."""

_INDEX = {a.icao: i for i, a in enumerate(AIRPORTS)}


def airport_index(icao: str) -> int:
    """Position of an airport in :data:`AIRPORTS`; ``KeyError`` naming the code if it is not there."""
    try:
        return _INDEX[icao]
    except KeyError:
        raise KeyError(f"no airport {icao!r} in the simulator's table") from None


def airport(icao: str) -> Airport:
    """The airport with this ICAO code."""
    return AIRPORTS[airport_index(icao)]


@dataclass(frozen=True)
class Coverage:
    """The area whose tracks the simulated processing system reports: a latitude-longitude box.

    It holds metropolitan France and Corsica with a margin over the sea and the borders (roughly the
    French flight information regions); a flight is tracked only while it is inside.
    """

    south: float = 41.3
    north: float = 51.1
    west: float = -5.5
    east: float = 9.7

    def contains(self, latitude: NDArray[np.float64], longitude: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Whether each point (degrees) is inside the box."""
        return (
            (latitude >= self.south)
            & (latitude <= self.north)
            & (longitude >= self.west)
            & (longitude <= self.east)
        )


COVERAGE = Coverage()
