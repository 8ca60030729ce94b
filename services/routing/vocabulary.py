"""Words that mean one thing, however people say it: concept classes. Pure data, no I/O.

    a text ─▶ the concepts its words belong to, as features "c:<concept>"
              (娃, 孩子, 闺女, son, kid … ─▶ c:child; 走了, 过世, 不在了, died … ─▶ c:death)

Unlike the colloquial table (a phrase ─▶ the catalogue's words for it), a concept is
symmetric: the retrieval classifier adds it to every catalogue document and to every
inquiry through the same function, so a matter whose examples say 去世 is found by an
inquiry that says 老人走了 or "my father died" without a phrase written for that matter.
Concepts compose: an inquiry saying 娃 + 户口 reaches the matter whose examples say
孩子 + 落户 as words of each concept meet. A concept is a word-level class of what people
say about public services, not a list of inquiries; a member belongs to one concept
only when it means that in (nearly) every inquiry. Chinese members match as substrings
of the normalised text; English members as whole words after ``stem`` (a member of several
English words is written joined by "_"). A concept listed in
GENERIC names a whole field (a person, a house, money) and counts as a generic word.
"""

from __future__ import annotations

import re
from functools import lru_cache

CONCEPTS: dict[str, str] = {
    # people
    "child": "孩子 小孩 小孩子 娃 儿子 女儿 闺女 宝宝 子女 小朋友 孙子 孙女 "
             "child children kid son daughter"
             " kids toddler grandchild",
    "newborn": "刚出生 刚生 新生儿 生下来 刚生的 出生 born newborn baby",
    "spouse": "老公 老婆 媳妇 丈夫 妻子 爱人 老伴 配偶 遗孀 husband wife spouse widow"
              " partner",
    "parent": "父亲 母亲 爸爸 妈妈 我爸 我妈 老爹 俺爹 俺娘 父母 爹妈 老父亲 "
              "father mother parent dad mum mom",
    "elderly": "老人 老年 老头 老太 奶奶 爷爷 姥姥 姥爷 外婆 外公 岁数大 高龄 高寿 "
               "grandmother grandfather grandma grandpa elderly senior"
              "老寿星 老大爷 老大娘 老奶奶 老爷子 老太太 aged"
               " pensioner old_man old_woman old_people",
    "only_child": "独生 只生一个 只有一个孩子 就一个儿子 就一个女儿 就一个孩子 只要了一个 "
                  "只生了一个 独子 独女 only_child one_child"
                  " single_child",
    # life events
    "death": "去世 死亡 过世 走了 不在了 逝世 病故 身故 亡故 死了 人死 仙逝 过身 "
             "die died dead death deceased passed_away 病逝 离世 辞世 去逝 咽气 断气"
             " late_husband late_wife late_father late_mother pass_away",
    "funeral": "丧事 殡葬 火化 丧葬 安葬 后事 骨灰 cremated cremation funeral burial"
              "殡仪馆 遗体 墓地 公墓 树葬 海葬 花葬 下葬 出殡 追悼会 grave cemetery",
    "marriage": "结婚 成婚 扯证 办酒 婚姻 对象 marry married marriage wedding fiancee"
               "未婚妻 未婚夫 女朋友 男朋友 新婚 fiance bride groom"
                " wedding wed engaged",
    "divorce": "离婚 分开过 散伙 协议离 divorce divorced separate"
               " split_up separation",
    "pregnant": "怀孕 怀上 有了身孕 孕妇 二胎 三胎 二孩 "
                 "三孩 pregnant pregnancy 产检 建档 孕检 预产期 有喜"
                " expecting maternity birth_permit",
    "retire": "退休 到龄 到岁数 到年龄 到点了 满六十 满60 满五十 满50 满五十五 满55 "
              "retire retired retirement turning_60 病退 提前退休 退休年龄",
    "jobless": "失业 没工作 没有工作 没活干 下岗 被辞退 被开除 被裁 裁员 辞退 闲在家 "
               "厂子关门 厂子倒闭 公司倒闭 找不到工作 laid_off fired unemployed jobless "
               "lost_my_job 离职 辞职 辞工 没事做 没事干 待业 无业 失去工作 out_of_work"
               " redundant redundancy dismissed sacked out_of_job",
    # money and work
    "wages": "工资 工钱 薪水 薪资 血汗钱 wage wages salary paid"
             " paycheck arrears",
    "owed": "拖欠 欠薪 欠工资 欠工钱 不给钱 不发 没发 一分钱没给 跑路 owe owed unpaid",
    "pension": "养老金 退休金 养老保险 养老钱 退休工资 pension"
               " pensions annuity",
    "allowance": "补贴 补助 津贴 救助 扶助 扶持 救济 救急 allowance subsidy grant benefit "
                 "assistance support"
                 " benefits welfare aid",
    "loan": "贷款 借钱 借款 贴息 按揭 loan loans mortgage"
            " borrow credit",
    "business": "创业 开店 开个店 做生意 养殖 个体户 小生意 start_business startup "
                "small_business"
                " shop store entrepreneur",
    "company": "公司 企业 单位 厂里 老板 company employer firm",
    "close_down": "关门 不干了 倒闭 停业 歇业 关张 close "
                   "closing deregister 关停 不经营 关店 停办 结业 shut_down",
    "tax": "税 纳税 缴税 交税 完税 个税 tax taxes",
    "invoice": "发票 开票 开张票 开个票 invoice receipt",
    "income": "收入 没收入 没有收入 挣钱 工资低 没钱 困难 穷 income poor afford 生活困难 揭不开锅",
    # property and land
    "house": "房子 房屋 住房 房产 不动产 楼房 新房 二手房 旧房子 flat apartment house "
             "home property"
             " housing real_estate",
    "property_cert": "房本 房产证 不动产证 不动产权证书 产权证 大产证 红本 title_deed "
                     "property_certificate"
                     " deeds ownership_certificate house_certificate",
    "sell": "卖 买卖 卖给 出售 过户 转到 名下 sold sell selling buyer transfer_ownership"
            " sale buy bought purchase",
    "homestead": "宅基地 盖房 起房子 建房 老宅 农村建房 build_a_house village_plot",
    # papers
    "hukou": "户口 户籍 户口本 hukou household_registration"
             " residency household_register hukou_book",
    "idcard": "身份证 身分证 id_card identity_card"
              " id identity",
    "ssc": "社保卡 社会保障卡 医保卡 social_security_card social_insurance_card",
    "password": "密码 六位数 pin password"
                " passcode locked",
    "wrong": "写错 印错 打错 弄错 错了 不对 有误 错误 wrong incorrect error mistake"
            "misspelled misspelt typo 不一致 对不上",
    "rename": "改名 换名字 改名字 改个名 名字改 change_name rename",
    "proof": "证明 开证明 proof prove proving letter confirming",
    "relative": "亲属关系 父子 母子 父女 母女 亲属 关系证明 relationship relative",
    "birth_cert": "出生证 出生证明 出生医学证明 birth_certificate",
    "passport": "护照 出国 国外 签证 通行证 港澳 香港 澳门 "
                 "passport abroad visa overseas 出境 旅游 旅行 travel trip"
                " exit hong_kong macau macao travel_document",
    "title": "职称 评高级 副高 正高 中级 副主任 "
              "高级工程师 高级教师 评审 professional_title 评职称 职称评定 senior_title",
    # services
    "water": "自来水 停水 没水 水费 水表 水管 水龙头 水压 water 漏水 水质 水浑 水发黄"
             " tap pipe",
    "power": "停电 没电 电费 电表 用电 通电 接电 供电 跳闸 electricity power electric 电压 电线"
             " outage blackout electric_meter",
    "medical": "看病 医疗 医保 住院 医院 医药费 报销 hospital hospitalised medical"
               " doctor treatment reimbursement reimburse",
    "lawyer": "律师 法律援助 免费律师 lawyer legal_aid"
              " attorney legal_help free_legal",
    "sue": "起诉 打官司 告他 法院 立案 诉讼 sue lawsuit court"
           " litigation file_a_case",
    "disabled": "残疾 残废 瘫痪 截肢 重残 卧床 聋 哑 盲 听不见 看不见 disabled disability"
                " handicapped wheelchair deaf blind paralysed paralyzed amputee",
    "reservoir": "水库 移民 大坝 搬迁 库区 reservoir resettlement resettled"
                 " dam relocated",
    "disaster": "着火 火灾 烧光 洪水 淹了 受灾 遭灾 车祸 大病 重病 白血病 癌症 "
                "flood flooded fire accident emergency disaster 天灾 地震 塌了 倒塌",
    "expire": "到期 过期 快到期 有效期 期满 失效 expire expiry renew renewal",
    "damaged": "坏了 坏掉 折了 裂了 断了 烂了 磨损 消磁 读不出 刷不出 损坏 破损 泡水 "
               "broken cracked damaged",
    "lose": "丢了 丢失 遗失 弄丢 搞丢 弄没了 找不到 找不着 不见了 被偷 被盗 被扒 lose stolen "
            "missing",
    "replace": "补办 补领 补发 补证 补一张 补个 换证 换新 重新办 重办 replace replacement reissue",
    "travel_now": "坐飞机 坐火车 坐高铁 登机 乘机 赶飞机 赶火车 flight train boarding plane",
    "free_entry": "免票 免门票 免费乘车 免费坐车 坐公交免费 免费坐公交 free_bus free_entry",
    "dibao": "低保 最低生活保障 低保户 吃低保 dibao minimum_living",
    "hard_to_employ": "4050 四零五零 就业困难 大龄 没人要 不要我 nobody_will_hire hard_to_employ",
    "shirk": "推诿 推来推去 互相推 踢皮球 推给 拖着 拖办 等了半天 跑了好几趟 跑了几趟 来回跑 "
             "runaround 等了 等通知 还没办好 不给办 不让办 拒绝 kept_waiting refused delay"
             " passed_around back_and_forth sent_back",
    "bank_function": "激活 开通 启用 金融功能 银行功能 取钱 存钱 转账 银行账户 activate "
                     "activation withdraw cash",
    "transfer": "转移 转入 转出 转回 接续 转过来 转回来 弄回来 带过来 迁移 迁入 迁出 迁到 "
                "迁过来 挪到 搬到 transfer moved move relocate",
    "rural": "农村 村里 乡下 种地 务农 农民 村民 farmer village rural countryside",
    "flexible_work": "自由职业 灵活就业 打零工 没单位 没有单位 freelancer self_employed "
                     "no_employer",
    "insurance": "保险 社保 参保 insurance",
    "contribution": "交钱 缴费 交费 续费 保费 contribution premium",
    "care": "护理 伺候 照顾 照料 陪护 卧床 carer nursing",
    "school": "上学 入学 学校 读书 school",
    "residence": "住在 住址 居住 住这里 常住 address reside residence",
    "tax_refund": "退税 退钱 多交 汇算 overpaid refund",
    "second_hand": "二手房 旧房子 别人的房 second_hand",
    "land": "用地 土地 地块 厂房 选址 site land factory project",
    "reward": "奖励 奖扶 reward",
    "shift_work": "工时 排班 轮班 倒班 做一休一 上一天休一天 shift shifts rota",
    "pickup": "取件 来拿 去拿 领回 取回 代领 代拿 办好了 办下来 批下来 出件 collect pick_up"
              " ready result results",
    "opening_hours": "上班时间 几点上班 几点下班 几点开门 营业时间 午休 中午休息 节假日 "
                     "opening_hours office_hours"
                     " opening closing_time lunch_break weekend",
    "alone": "一个人过 没有亲人 孤身 孤寡 无人照顾 没人照顾 独居 无依无靠 alone",
    "first_time": "新办 第一次 首次 头一回 头一次 从来没办过 还没有 first_time",
    "rent": "租房 房租 租的房 租住 rent renting tenant",
    "staff": "工作人员 窗口 态度 办事员 小姑娘 凶 吼 骂人 呵斥 甩脸 不耐烦 爱答不理 爱搭不理 "
             "clerk staff rude impolite shouted counter"
             " attitude unhelpful ignored",
}

# concepts that name a whole field rather than a matter: they count as generic words
GENERIC = frozenset({"child", "parent", "elderly", "spouse", "house", "company", "proof",
                     "allowance", "income", "tax", "medical", "transfer", "insurance",
                     "contribution", "school",
                     # what happened to a paper or card, not which one
                     "wrong", "damaged", "lose", "replace", "expire", "first_time"})

IRREGULAR = {  # word -> its stem, where the suffix rules would miss or merge
    "died": "die", "dies": "die", "dying": "die", "children": "child", "lost": "los",
    "paid": "pay", "sold": "sell", "wives": "wif",
    # words the suffix rules would run together: fire / fired, plane / planning
    "fire": "fire", "fires": "fire", "fired": "fired", "plane": "plane", "planes": "plane"}


def stem(word: str) -> str:
    """A light English stemmer, the same for catalogue and inquiry: died, dies -> die;
    moved, moving, moves -> mov; married, marries -> marry; cards -> card; stopped -> stop."""
    if word in IRREGULAR:
        return IRREGULAR[word]
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith(("ies", "ied")) and len(word) > 4:
        base = word[:-3] + "y"
    elif word.endswith("ing") and len(word) > 5:
        base = word[:-3]
    elif word.endswith("ed") and len(word) > 4 or word.endswith(("ses", "xes", "ches", "shes")):
        base = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        base = word[:-1]
    else:
        base = word
    if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "lsz":
        base = base[:-1]  # stopped -> stop
    return base[:-1] if len(base) > 3 and base.endswith("e") else base


@lru_cache(maxsize=1)
def _members() -> tuple[dict[str, tuple[tuple[str, str], ...]], tuple[tuple[str, str], ...]]:
    """Chinese (member, concept) pairs by the member's first character, and
    (" stemmed English words ", concept) pairs; an English member of several words is
    written joined by "_" in CONCEPTS."""
    chinese: dict[str, list[tuple[str, str]]] = {}
    english: list[tuple[str, str]] = []
    for name, text in CONCEPTS.items():
        for member in text.split():
            if member.isascii():
                english.append((" " + " ".join(stem(w) for w in member.split("_")) + " ", name))
            else:
                chinese.setdefault(member[0], []).append((member, name))
    return {c: tuple(pairs) for c, pairs in chinese.items()}, tuple(english)


def concepts(text: str) -> dict[str, list[str]]:
    """The concepts a normalised text (NFKC, lower case, spaces kept) speaks of, each with
    the members found (English ones stemmed)."""
    chinese, english = _members()
    found: dict[str, list[str]] = {}
    for i, char in enumerate(text):  # every member written anywhere in the text
        for member, name in chinese.get(char, ()):
            if text.startswith(member, i) and member not in found.get(name, ()):
                found.setdefault(name, []).append(member)
    words = tuple(stem(w) for w in re.findall(r"[a-z0-9]+", text))
    if words:
        joined = " " + " ".join(words) + " "
        for phrase, name in english:
            if phrase in joined:
                found.setdefault(name, []).append(phrase.strip())
    return found
