"""Amazon Web Services engines: Transcribe streaming, Translate and Polly.

One module (Transcribe, Polly: one package) per service, each with a ``create_*`` factory the
engine registry calls (bundle ``"aws"``)::

    transcribe/    AwsTranscribeRecognizer  "aws-transcribe"  (amazon-transcribe SDK, HTTP/2)
    translate.py   AwsTranslator            "aws-translate"   (boto3, calls in a thread)
    polly/         AwsPollySynthesizer      "aws-polly"       (boto3, own threads read the body;
                   SSML prosody / newscaster, speech marks; features.py: engine support)
    doctor.py      run_checks(), format_report(), IAM_POLICY  (credentials and reachability)
    errors.py      vendor error -> s2st_kit.errors tables, throttling retry (s2st_kit.retry)
    session.py     boto3 session, region and credential-chain helpers

Private attributes of the SDKs are touched only in ``transcribe/adapter.py``.

The SDKs are imported only by these modules; importing this package imports nothing
from boto3 or amazon-transcribe. A missing SDK raises
:class:`~s2st_kit.errors.EngineNotInstalledError` saying ``pip install 's2st_kit[aws]'``.

Credentials always come from the standard AWS chain (environment, shared files and
``profile``, SSO, container / instance roles); they are never logged or put in messages.
"""

from __future__ import annotations

__all__: list[str] = []
