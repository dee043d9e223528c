"""QKD links that make real key: what a link delivers to the key management layer at both of its ends."""
