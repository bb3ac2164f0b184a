"""The HTTP side: app factory, typed dependencies, error shape, schemas, routes, static widget and console."""
