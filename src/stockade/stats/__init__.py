"""Downloads and the security dashboard's figures: counting downloads, the critical-projects
designation and the 2FA mandate that follows it, daily security snapshots."""
