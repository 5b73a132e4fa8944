"""The mirror: upstream indexes served through this one, with origin rules and cooldowns."""
