import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('hooks', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='NotificationDecision',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('correlation_id', models.CharField(db_index=True, max_length=200)),
                ('mode', models.CharField(max_length=16)),
                ('template', models.CharField(max_length=64)),
                ('subject', models.CharField(max_length=255)),
                ('body', models.TextField()),
                ('decided_at', models.DateTimeField(auto_now_add=True)),
                ('notification', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='hooks.notification')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.user')),
            ],
            options={
                'db_table': 'hooks_notificationdecision',
            },
        ),
    ]
