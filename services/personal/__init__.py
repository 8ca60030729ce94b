"""Personal data under PIPL: erasure (crypto-shredding), retention, the citizen's copy.
Sealing and the decryptor are in services/common/pii.py and events/sealed.py."""
