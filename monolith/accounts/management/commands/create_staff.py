"""``manage.py create_staff <username> <password>``: a staff login that can review KYC.

Idempotent: an existing user gets the new password and the staff flag.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

# Enough to review KYC in the admin and see whom it concerns.
STAFF_PERMISSIONS = [
    ("accounts", "view_kycsubmission"),
    ("accounts", "change_kycsubmission"),
    ("accounts", "view_user"),
]


class Command(BaseCommand):
    help = "Create (or update) a staff user who can review KYC via the API and the admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("password")
        parser.add_argument("--superuser", action="store_true",
                            help="Also make the user a superuser (all admin permissions).")

    def handle(self, *args: Any, **options: Any) -> None:
        username, password = options["username"].strip(), options["password"]
        if not username:
            raise CommandError("username must not be empty.")
        if len(password) < 8:
            raise CommandError("password must be at least 8 characters.")
        model = get_user_model()
        with transaction.atomic():
            user, created = model.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = True
            user.is_active = True
            if options["superuser"]:
                user.is_superuser = True
            user.save()
            for app_label, codename in STAFF_PERMISSIONS:
                permission = Permission.objects.filter(
                    content_type__app_label=app_label, codename=codename
                ).first()
                if permission is None:
                    raise CommandError(
                        f"Permission {app_label}.{codename} is missing; run migrate first."
                    )
                user.user_permissions.add(permission)
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} staff user {username!r}.")
