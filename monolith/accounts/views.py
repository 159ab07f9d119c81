"""Merchant, end-user and KYC endpoints, plus the staff KYC review endpoints (session auth)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response

from monolith.accounts import services
from monolith.accounts.models import KycSubmission, User
from monolith.accounts.serializers import (
    KycRejectSerializer,
    KycSubmissionSerializer,
    KycSubmitSerializer,
    MerchantSerializer,
    UserCreateSerializer,
    UserSerializer,
)
from monolith.common.api import LegacyAPIView, WriteResult, json_body, validated
from monolith.common.auth import IsStaff


class MerchantView(LegacyAPIView):
    def get(self, request: Request) -> Response:
        return Response(MerchantSerializer(self.merchant).data)


class UserListView(LegacyAPIView):
    def get(self, request: Request) -> Response:
        return self.page(User.objects.filter(merchant=self.merchant).order_by("id"),
                         UserSerializer)

    def post(self, request: Request) -> HttpResponse:
        def execute(body: dict[str, Any]) -> WriteResult:
            data = validated(UserCreateSerializer, body)
            user = services.create_user(self.merchant, **data)
            return 201, UserSerializer(user).data

        return self.write(idempotency_required=False, execute=execute)


class UserDetailView(LegacyAPIView):
    def get(self, request: Request, user_id: int) -> Response:
        return Response(UserSerializer(services.user_of(self.merchant, user_id)).data)


class UserKycView(LegacyAPIView):
    def get(self, request: Request, user_id: int) -> Response:
        user = services.user_of(self.merchant, user_id)
        submissions = KycSubmission.objects.filter(user=user).order_by("-id")
        return Response(KycSubmissionSerializer(submissions, many=True).data)

    def post(self, request: Request, user_id: int) -> HttpResponse:
        def execute(body: dict[str, Any]) -> WriteResult:
            services.user_of(self.merchant, user_id)  # 404 before 400 for a foreign user
            data = validated(KycSubmitSerializer, body)
            submission = services.submit_kyc(self.merchant, user_id, **data)
            return 201, KycSubmissionSerializer(submission).data

        return self.write(idempotency_required=False, execute=execute)


class StaffKycView(LegacyAPIView):
    """Staff only: Django session (CSRF enforced by DRF) and ``is_staff``."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsStaff]


class StaffKycVerifyView(StaffKycView):
    def post(self, request: Request, submission_id: int) -> Response:
        json_body(request)  # still JSON-only; the body itself is ignored
        submission = services.review_kyc(submission_id, request.user, verify=True)
        return Response(KycSubmissionSerializer(submission).data)


class StaffKycRejectView(StaffKycView):
    def post(self, request: Request, submission_id: int) -> Response:
        data = validated(KycRejectSerializer, json_body(request))
        submission = services.review_kyc(
            submission_id, request.user, verify=False, reason=data["reason"]
        )
        return Response(KycSubmissionSerializer(submission).data)
