"""The Furrow contract: what firmware, gateway and cloud agree on.

Every module here is plain Python that MicroPython also runs and mpy-cross
compiles: no typing, no dataclasses, no I/O. Payloads are plain dicts so the
same code runs on a 520 KiB microcontroller and in the cloud.
"""

# Bump MINOR for additive changes (new optional keys, new measurements);
# bump MAJOR when an old reader would misread a new payload.
CONTRACT_MAJOR = 1
# 1.1: signed commands (see signing.py); 1.2: cancel (see cancel.py); 1.3: images (see image.py);
# 1.4: canopy reflectance and NDVI measurements (red_refl, nir_refl, ndvi; see measurements.py);
# 1.5: the fertigate action and the ack's injected_ml (see commands.py);
# 1.6: a tracker's positions on its ``up`` topic and as positions items in batches (see position.py)
CONTRACT_MINOR = 6
CONTRACT_VERSION = "%d.%d" % (CONTRACT_MAJOR, CONTRACT_MINOR)
