"""The domain-resurrection defence: RDAP and DNS checks of the domains of verified addresses."""
