"""A camera node: the board's camera module behind its driver, photos kept in flash until the gateway has them."""

from furrow.firmware import board


def build(cfg, clock, seq, common):
    from furrow.firmware.camera_node import CameraNode
    from furrow.firmware.drivers.camera import Camera
    from furrow.firmware.image_store import ImageStore

    cam = cfg["camera"]
    store = ImageStore(cam["images_path"], cam["max_images"], cam["max_bytes"])
    # The seq of a camera node numbers its photos (the contract's image seq), kept as a report's is.
    return CameraNode(cfg["node"], Camera(board.camera(), cam["framesize"], cam["quality"]), store, seq,
                      kind=cam["kind"], chunk_bytes=cam["chunk_bytes"], ack_wait_ms=cam["ack_wait_s"] * 1000,
                      **common)
