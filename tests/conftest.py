pytest_plugins = ["tests.database_fixtures"]
