"""Field and zone boundaries beyond the API's GeoJSON (issue 20).

* `geofiles`: boundaries from GeoJSON, KML and Shapefile files (pyogrio), reprojected to WGS 84
* `spatial`: the boundary checks in PostGIS where the database has it, shapely otherwise
"""
