"""How people say it -> how the catalogue says it. Pure data, no I/O.

A text holding a colloquial, regional, misspelt or English phrase on the left gets the
catalogue's words on the right added to it (never replacing what the person wrote) before
the retrieval classifier reads it, and so does each catalogue document (the same function).
The table was written from how citizens speak about each matter of the demo catalogue, not
from the labelled inquiries; a phrase belongs here only when it means one thing.
"""

from __future__ import annotations

import re

COLLOQUIAL: dict[str, str] = {
    # marriage (民政 婚姻登记)
    "扯证": "结婚登记", "领证结婚": "结婚登记", "打结婚证": "结婚登记", "红本本": "结婚证",
    "两口子": "夫妻", "分开过": "离婚", "散伙": "离婚", "get married": "结婚登记",
    "marriage": "婚姻",
    "divorce": "离婚登记",
    # property (不动产)
    "房本": "不动产权证书", "房产证": "不动产权证书", "房证": "不动产权证书",
    "产权证": "不动产权证书", "土地证": "不动产权证书", "过户": "转移登记",
    "名字换": "转移登记", "改名到": "转移登记", "卖房": "转移登记 二手房",
    "按揭": "抵押", "房贷": "抵押 贷款", "查封": "不动产登记资料查询",
    "名下有没有房": "不动产登记资料查询",
    "无房证明": "不动产登记资料查询", "没房": "不动产登记资料查询", "自建房": "首次登记",
    "盖房": "宅基地", "起房子": "宅基地", "建房": "宅基地",
    "title deed": "不动产权证书", "property certificate": "不动产权证书",
    # household registration and identity (公安 户政)
    "上户口": "出生登记 落户", "报户口": "出生登记 落户", "入户": "落户", "落户口": "落户",
    "迁户口": "户口迁移", "户口迁": "户口迁移", "户口转": "户口迁移", "挪户口": "户口迁移",
    "销户": "死亡注销户口", "消户口": "死亡注销户口", "销户口": "死亡注销户口",
    "户口销": "死亡注销户口", "身分证": "身份证", "省份证": "身份证", "id card": "身份证",
    "identity card": "身份证", "household registration": "户口", "hukou": "户口",
    "临时身份证": "临时居民身份证", "临时的身份证": "临时居民身份证",
    "birth certificate": "出生医学证明",
    # death
    "走了": "去世 死亡", "过世": "去世 死亡", "没了": "去世", "仙逝": "去世",
    "passed away": "去世 死亡", "died": "去世 死亡",
    "火化": "殡葬", "丧事": "殡葬 丧葬", "办后事": "殡葬 丧葬", "骨灰": "殡葬",
    "funeral": "殡葬 丧葬",
    # social security card
    "社保卡": "社会保障卡", "社会保障卡": "社会保障卡", "social security card": "社会保障卡",
    "掉了": "遗失", "弄丢": "遗失", "搞丢": "遗失", "丢了": "遗失", "找不到了": "遗失",
    "被偷": "遗失", "stolen": "遗失", "lost": "遗失",
    "锁了": "锁定 解锁", "锁住": "锁定 解锁", "被锁": "锁定 解锁", "忘了密码": "密码重置",
    "密码忘": "密码重置", "locked": "锁定 解锁",
    "读不出": "损坏 换卡", "消磁": "损坏 换卡", "磨损": "损坏 换卡",
    "激活": "金融功能激活", "银行功能": "金融功能", "启用": "激活",
    # pensions and insurance
    "养老金": "养老保险 待遇", "退休金": "养老保险 待遇 退休", "领养老": "养老保险 待遇",
    "pension": "养老保险", "retire": "退休", "农保": "城乡居民养老保险",
    "新农保": "城乡居民养老保险", "没有单位": "城乡居民", "灵活就业": "城乡居民",
    "转社保": "养老保险关系转移", "社保转": "养老保险关系转移", "医保卡": "医疗保险",
    "合作医疗": "城乡居民医疗保险",
    "新农合": "城乡居民医疗保险", "医保费": "城乡居民医疗保险费缴纳",
    "外地住院": "异地就医",
    # employment and wages
    "工钱": "拖欠工资", "欠薪": "拖欠工资", "欠工资": "拖欠工资", "不发工资": "拖欠工资",
    "讨薪": "拖欠工资", "讨工资": "拖欠工资", "工资没发": "拖欠工资", "unpaid wage": "拖欠工资",
    "wages": "工资", "下岗": "失业", "没工作": "失业", "没活干": "失业", "丢了工作": "失业",
    "被辞退": "失业", "倒闭": "失业", "unemployed": "失业", "lost my job": "失业",
    "贴息": "创业担保贷款", "创业贷": "创业担保贷款", "做生意贷款": "创业担保贷款",
    "不定时": "特殊工时", "综合工时": "特殊工时", "综合计算工时": "特殊工时",
    "职称": "专业技术人员 职称评审", "评高级": "高级职称评审",
    # tax
    "个税": "个人所得税", "退税": "个人所得税 汇算", "补税": "个人所得税 汇算",
    "income tax": "个人所得税", "tax refund": "个人所得税 汇算", "发票": "代开发票",
    "invoice": "代开发票", "完税": "完税证明",
    "交过税": "完税证明", "纳税证明": "完税证明", "清税": "税务注销",  "契税": "存量房交易契税",
    # assistance
    "低保": "最低生活保障", "低宝": "最低生活保障", "吃低保": "最低生活保障",
    "五保": "特困人员救助供养", "孤寡": "特困人员",
    "救济": "临时救助", "急难": "临时救助", "遭灾": "临时救助", "着火": "临时救助",
    "火灾": "临时救助", "大病": "临时救助", "残疾证": "残疾人证", "评残": "残疾人证",
    "护理补贴": "重度残疾人护理补贴", "残疾补贴": "困难残疾人生活补贴",
    "disabled": "残疾", "disability": "残疾",
    "高龄补贴": "高龄津贴", "长寿金": "高龄津贴", "老年证": "老年人优待证",
    "敬老卡": "老年人优待证",
    "优待证": "老年人优待证", "坐公交免费": "老年人优待证", "独生子女证": "独生子女父母光荣证",
    "光荣证": "独生子女父母光荣证", "失独": "计划生育家庭特别扶助", "奖扶": "奖励扶助",
    "二胎": "生育登记", "三胎": "生育登记", "生娃": "生育", "生孩子": "生育",
    "准生证": "生育登记", "生育服务证": "生育登记",
    # reservoir migrants
    "移民款": "移民后期扶持资金", "移民补助": "移民后期扶持资金",
    # water, power, fund, courts, passports
    "停水": "供水 用水", "没水": "供水 用水", "水表": "水费 用水", "水管": "用水",
    "停电": "供电 用电", "没电": "供电 用电", "电表": "电费 用电", "跳闸": "用电",
    "装电": "用电报装", "water bill": "水费", "electricity": "用电 电费", "power cut": "停电",
    "公基金": "公积金", "公积金": "住房公积金", "housing fund": "住房公积金",
    "打官司": "诉讼", "起诉": "民事诉讼立案", "告他": "起诉", "告状": "起诉", "sue": "起诉",
    "请不起律师": "法律援助", "免费律师": "法律援助", "免费的律师": "法律援助",
    "lawyer": "律师 法律援助", "legal aid": "法律援助",
    "护照": "普通护照", "passport": "普通护照", "港澳通行证": "往来港澳通行证",
    "去香港": "往来港澳通行证", "去澳门": "往来港澳通行证",
}

_CHINESE = tuple(k for k in COLLOQUIAL if not k.isascii())
# English phrases match whole words only ("sue" is not in "issue")
_ENGLISH = re.compile(r"\b(" + "|".join(
    re.escape(k) for k in sorted((k for k in COLLOQUIAL if k.isascii()), key=len, reverse=True)
) + r")\b")


def expand(text: str) -> str:
    """The catalogue's words for each colloquial phrase in the text ("" when none).
    ``text`` is normalised already (NFKC, lower case)."""
    extra = [COLLOQUIAL[k] for k in _CHINESE if k in text]
    extra += [COLLOQUIAL[m] for m in _ENGLISH.findall(text)]
    return " ".join(extra)
