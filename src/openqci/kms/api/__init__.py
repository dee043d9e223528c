"""The KME's HTTP side: the ETSI GS QKD 014 router, the KME-to-KME router and the app that joins them."""
