"""File primitives below both the engine and the writers: atomic files and folders, and
input readahead. Nothing here knows what the files hold."""
