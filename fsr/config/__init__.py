"""Configuration: the typed schema with defaults (`schema`) and validated loading (`load`)."""

from fsr.config.load import ConfigError, from_dict, load_config, to_dict
from fsr.config.schema import PROTOCOLS, Config

__all__ = ["Config", "ConfigError", "PROTOCOLS", "from_dict", "load_config", "to_dict"]
