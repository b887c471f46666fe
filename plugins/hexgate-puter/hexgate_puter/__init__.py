"""hexgate provider: Puter.com AI (chat and images) (work in progress)."""
