"""The `livedesk` console script: one subcommand per service, plus standalone and tooling."""
