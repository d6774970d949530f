"""A JPEG camera module (OV2640 / OV5640 on an ESP32-CAM class board).

The board passes in the MicroPython camera module (the esp32-camera
binding: ``init``, ``framesize``, ``quality``, ``capture``, ``deinit``, and
``FRAME_*`` constants), so a fake that follows the sensor's datasheet drives
this driver in the tests. ``capture()`` returns the JPEG bytes of one frame
or False when the sensor gave none (a frame-buffer timeout), as the binding
does.

Each frame is checked before it is kept: a JPEG start and end marker, and a
start-of-frame whose width and height are the configured frame size (a
sensor that resets mid-capture comes back at its default size, and a
truncated buffer has no end marker).
"""

# framesize name -> (width, height), from the OV2640 / OV5640 datasheets'
# output formats as the esp32-camera binding names them
FRAMESIZES = {
    "qvga": (320, 240),
    "cif": (400, 296),
    "vga": (640, 480),
    "svga": (800, 600),
    "xga": (1024, 768),
    "hd": (1280, 720),
    "sxga": (1280, 1024),
    "uxga": (1600, 1200),
}
QUALITY_MIN = 4  # the JPEG quantiser scale: lower is finer; below 4 the OV2640 overruns its frame buffer
QUALITY_MAX = 63


class CameraError(Exception):
    """No usable frame: the reason says what the sensor gave."""


def jpeg_size(data):
    """(width, height) from a JPEG's start-of-frame marker, or None when there is none."""
    i = 2
    n = len(data)
    while i + 9 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = (data[i + 2] << 8) | data[i + 3]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return (data[i + 7] << 8) | data[i + 8], (data[i + 5] << 8) | data[i + 6]
        i += 2 + length
    return None


class Camera:
    """Photos of one frame size and quality from the camera module `cam`."""

    def __init__(self, cam, framesize="vga", quality=12):
        if framesize not in FRAMESIZES:
            raise ValueError("framesize must be one of %s, not %r" % (", ".join(sorted(FRAMESIZES)), framesize))
        if not QUALITY_MIN <= quality <= QUALITY_MAX:
            raise ValueError("quality must be %d..%d, not %r" % (QUALITY_MIN, QUALITY_MAX, quality))
        self.cam = cam
        self.size = FRAMESIZES[framesize]
        cam.init(0, format=cam.JPEG)
        cam.framesize(getattr(cam, "FRAME_" + framesize.upper()))
        cam.quality(quality)

    def capture(self):
        """One JPEG frame as bytes; CameraError when the sensor gave no whole frame of our size."""
        frame = self.cam.capture()
        if not frame:
            raise CameraError("no frame (frame buffer timeout)")
        if frame[:2] != b"\xff\xd8" or frame[-2:] != b"\xff\xd9":
            raise CameraError("not a whole JPEG (%d bytes)" % len(frame))
        size = jpeg_size(frame)
        if size != self.size:
            raise CameraError("frame is %r, configured %r" % (size, self.size))
        return frame
