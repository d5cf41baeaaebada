"""Settings of the naive forwarder baseline: Channels on channels-rabbitmq, nothing else."""

import os

SECRET_KEY = "bench-naive"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
DATABASES = {}
ASGI_APPLICATION = "bench.naive_asgi.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_rabbitmq.core.RabbitmqChannelLayer",
        # The defaults, as the tutorials leave them.
        "CONFIG": {"host": os.environ["NOTIFY_AMQP_URL"]},
    }
}
USE_TZ = True
