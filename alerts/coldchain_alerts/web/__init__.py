"""Server-rendered pages for people: log in, the alert inbox, one alert, its forms."""
