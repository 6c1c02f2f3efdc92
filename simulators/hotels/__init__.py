"""Hotel files for the simulator; demo.toml is the default."""
