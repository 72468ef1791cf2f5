#!/bin/sh
# Regenerates the demo Mandarin prompt set in prompts/zh/ (8 kHz mono 16-bit PCM WAV).
# Speech at 180 words/min keeps the whole set under 1 MB.
# Needs espeak-ng (with the cmn voice) and sox:  apt-get install -y espeak-ng sox
# Numbers are written as spoken (幺二三四五, 幺幺零) so they are read digit by digit.
# Real deployments replace these files with recorded prompts of the same names.
set -eu
cd "$(dirname "$0")"
OUT=zh
mkdir -p "$OUT"

say() { # say NAME TEXT
    espeak-ng -v cmn -s 180 --stdout "$2" |
        sox -t wav - -r 8000 -c 1 -b 16 -e signed-integer "$OUT/$1.wav" gain -n -3 \
            silence 1 0.02 0.1% reverse silence 1 0.02 0.1% reverse
}

say greeting "您好，这里是幺二三四五政务服务便民热线，通话将被录音。"
say please_hold "请稍候，正在为您转接。"
say queue_ahead "您前面还有"
say queue_unit "位"
say queue_waiting "在等待。"
say queue_expect "预计等待约"
say queue_minutes "分钟。"
for d in 0 1 2 3 4 5 6 7 8 9 10; do
    case $d in
        0) t="零" ;; 1) t="一" ;; 2) t="两" ;; 3) t="三" ;; 4) t="四" ;; 5) t="五" ;;
        6) t="六" ;; 7) t="七" ;; 8) t="八" ;; 9) t="九" ;; 10) t="十" ;;
    esac
    say "digit_$d" "$t"
done
say digit_2_compound "二"   # inside 12, 20, 22…; "两" is for a count on its own
say all_busy "座席正忙，请您稍后再拨。"
say no_agent "现在没有座席在线，请稍后再拨。"
say callback_offer "需要回电请按1。"
say restricted "您的号码暂时无法接入。紧急情况请拨：报警幺幺零，火警幺幺九，急救幺二零，交通事故幺二二。"
say survey "满意请按1，基本满意请按2，不满意请按3。"
say goodbye "感谢来电，再见。"
say rating_thanks "感谢您的评价，再见。"
say callback_ack "已记录您的回电请求，我们会尽快给您回电，再见。"
say transferring "正在为您转接，请不要挂机。"
say transfer_failed "转接未成功，请稍候。"
# Answers to agents' feature codes dialled from the softphone (*21 …).
say agent_logged_in "已签入。"
say agent_logged_out "已签出。"
say agent_ready "已置闲。"
say agent_not_ready "已置忙。"
say feature_refused "操作未成功。"

# Music on hold: a gentle four-note pattern, 2.7 s, looped by the player.
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$OUT/moh.wav" \
    synth 0.6 sine 523.25 fade q 0.05 0.6 0.2 : \
    synth 0.6 sine 659.25 fade q 0.05 0.6 0.2 : \
    synth 0.6 sine 783.99 fade q 0.05 0.6 0.2 : \
    synth 0.9 sine 659.25 fade q 0.05 0.9 0.4 \
    gain -n -12
echo "prompts written to $(pwd)/$OUT"
