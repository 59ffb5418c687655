"""shotmake: make for AI-generated video.

An episode YAML declares characters, style, shots and sequences; shotmake plans a
content-hashed DAG, takes unchanged nodes from the cache, renders the dirty ones on a
provider and stitches the clips with ffmpeg.
"""

__version__ = "0.1.0"
