import uuid

import django.utils.timezone
from django.db import migrations, models


def fill_subjects(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    for user in User.objects.filter(subject__isnull=True).only("pk"):
        user.subject = uuid.uuid4()
        user.save(update_fields=["subject"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        # `subject` in three steps, so that existing users each get their own value.
        migrations.AddField(
            model_name="user",
            name="subject",
            field=models.UUIDField(null=True, editable=False, verbose_name="subject identifier"),
        ),
        migrations.RunPython(fill_subjects, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="subject",
            field=models.UUIDField(
                default=uuid.uuid4, editable=False, unique=True, verbose_name="subject identifier"
            ),
        ),
        migrations.AddField(
            model_name="user",
            name="updated_at",
            field=models.DateTimeField(
                auto_now=True, default=django.utils.timezone.now, verbose_name="updated at"
            ),
            preserve_default=False,
        ),
            migrations.AddField(
            model_name='user',
            name='address_country',
            field=models.CharField(blank=True, max_length=100, verbose_name='country'),
        ),
        migrations.AddField(
            model_name='user',
            name='address_locality',
            field=models.CharField(blank=True, max_length=150, verbose_name='city'),
        ),
        migrations.AddField(
            model_name='user',
            name='address_postal_code',
            field=models.CharField(blank=True, max_length=30, verbose_name='postal code'),
        ),
        migrations.AddField(
            model_name='user',
            name='address_region',
            field=models.CharField(blank=True, max_length=150, verbose_name='region'),
        ),
        migrations.AddField(
            model_name='user',
            name='address_street',
            field=models.CharField(blank=True, max_length=300, verbose_name='street address'),
        ),
        migrations.AddField(
            model_name='user',
            name='birthdate',
            field=models.CharField(blank=True, help_text='YYYY-MM-DD, or YYYY', max_length=10, verbose_name='birthdate'),
        ),
        migrations.AddField(
            model_name='user',
            name='gender',
            field=models.CharField(blank=True, max_length=50, verbose_name='gender'),
        ),
        migrations.AddField(
            model_name='user',
            name='locale',
            field=models.CharField(blank=True, help_text='e.g. en-GB', max_length=35, verbose_name='locale'),
        ),
        migrations.AddField(
            model_name='user',
            name='middle_name',
            field=models.CharField(blank=True, max_length=150, verbose_name='middle name'),
        ),
        migrations.AddField(
            model_name='user',
            name='nickname',
            field=models.CharField(blank=True, max_length=150, verbose_name='nickname'),
        ),
        migrations.AddField(
            model_name='user',
            name='phone_number',
            field=models.CharField(blank=True, max_length=40, verbose_name='phone number'),
        ),
        migrations.AddField(
            model_name='user',
            name='phone_number_verified',
            field=models.BooleanField(default=False, verbose_name='phone number verified'),
        ),
        migrations.AddField(
            model_name='user',
            name='picture',
            field=models.URLField(blank=True, max_length=500, verbose_name='picture'),
        ),
        migrations.AddField(
            model_name='user',
            name='preferred_username',
            field=models.CharField(blank=True, max_length=150, verbose_name='preferred username'),
        ),
        migrations.AddField(
            model_name='user',
            name='profile',
            field=models.URLField(blank=True, max_length=500, verbose_name='profile page'),
        ),
        migrations.AddField(
            model_name='user',
            name='website',
            field=models.URLField(blank=True, max_length=500, verbose_name='website'),
        ),
        migrations.AddField(
            model_name='user',
            name='zoneinfo',
            field=models.CharField(blank=True, help_text='e.g. Europe/Paris', max_length=64, verbose_name='time zone'),
        ),
    
    ]
