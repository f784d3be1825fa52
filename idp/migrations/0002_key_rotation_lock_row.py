from django.db import migrations


def create_lock_row(apps, schema_editor):
    KeyRotationLock = apps.get_model("idp", "KeyRotationLock")
    KeyRotationLock.objects.get_or_create(pk=1)


def delete_lock_row(apps, schema_editor):
    apps.get_model("idp", "KeyRotationLock").objects.filter(pk=1).delete()


class Migration(migrations.Migration):
    dependencies = [("idp", "0001_signing_keys")]

    operations = [migrations.RunPython(create_lock_row, delete_lock_row)]
