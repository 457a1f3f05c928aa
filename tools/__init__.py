"""Project tooling that runs on a developer's machine or CI, never in Lambda."""
