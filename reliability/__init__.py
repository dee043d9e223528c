"""Reliability campaigns against real KMEs: crashes, partitions, load, bad input, access, quantum layer.

Each module runs one campaign, bounded in count and time, and returns a
:class:`~reliability.outcome.Outcome` row; ``python -m reliability`` (``./run reliability``) runs them and
prints one table. Traffic stays on 127.0.0.1 or on addresses of network namespaces a campaign creates
itself. See ``docs/reliability.md``.
"""
