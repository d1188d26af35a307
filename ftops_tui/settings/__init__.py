"""The settings: the config file, its schema, every file-system path, the themes."""
