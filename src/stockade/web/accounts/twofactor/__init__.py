"""Two-factor pages: enrolment, the second login step, and the security-key script."""
