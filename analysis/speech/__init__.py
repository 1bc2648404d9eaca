"""Voice activity on the session's microphone, and which spotted movements speech explains."""

from mestudio.analysis.speech.timeline import MOUTH_ONLY_EXEMPT, SpeechTimeline, mouth_only
from mestudio.analysis.speech.vad import VoiceActivity, voice_segments

__all__ = ["MOUTH_ONLY_EXEMPT", "SpeechTimeline", "VoiceActivity", "mouth_only", "voice_segments"]
