"""Images from camera nodes: the object store, ingest once, thumbnails, retention, the processing hook."""

from .objects import FileObjects, ObjectStore, ObjectsUnavailable, S3Objects
from .service import ImageService, StoredImage, object_key, thumbnail

__all__ = ["FileObjects", "ImageService", "ObjectStore", "ObjectsUnavailable", "S3Objects", "StoredImage",
           "object_key", "objects_from_settings", "thumbnail"]


def objects_from_settings(settings) -> ObjectStore:  # noqa: ANN001 - cloud.settings.Settings
    """The object store the settings name: files under data_dir/images, or an S3 bucket."""
    if settings.images_s3_bucket:
        store = S3Objects(settings.images_s3_bucket, endpoint_url=settings.images_s3_endpoint,
                          access_key=settings.images_s3_access_key,
                          secret_key=settings.images_s3_secret_key.get_secret_value()
                          if settings.images_s3_secret_key else None,
                          region=settings.images_s3_region)
        return store
    return FileObjects(settings.images_dir or settings.data_dir / "images")
