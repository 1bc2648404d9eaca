"""Config errors: one line that names the file and the key."""


class ConfigError(ValueError):
    """A session or protocol file that cannot be used as it is."""


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """The config file named on the command line does not exist."""
