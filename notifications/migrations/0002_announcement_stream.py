from django.db import migrations


def create_announcement_stream(apps, schema_editor):
    apps.get_model("notifications", "StreamHead").objects.get_or_create(user=None)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]

    operations = [migrations.RunPython(create_announcement_stream, migrations.RunPython.noop)]
