"""Alerts: engine events sent to the notification URLs in QT_NOTIFY_URLS (apprise), never blocking the engine."""
