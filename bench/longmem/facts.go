package longmem

import (
	"fmt"
	"strconv"
	"time"
)

// part is one planted exchange, put in a session of its own. Evidence
// names which of its two turns holds the answer ("user" or "assistant");
// an empty Evidence with Superseded set is the old value of a knowledge
// update.
type part struct {
	user, assistant string
	evidence        string
	superseded      bool
}

// plan is what a fact family draws for one question. Parts are placed in
// chronological order in distinct sessions; distractors (user messages
// reusing the fact's words about something else) go into other sessions.
type plan struct {
	kind, question string
	parts          []part
	distractors    []string
	// answer sees the dates of the sessions the parts landed in, for the
	// questions whose answer is a date or an order.
	answer func(dates []time.Time) string
}

func fixed(s string) func([]time.Time) string { return func([]time.Time) string { return s } }

func (g *gen) userPart(tmpls []string, vals kv) part {
	return part{user: g.say(tmpls, vals), assistant: g.pick(acks), evidence: "user"}
}

// family draws one question of its kind.
type family func(g *gen) plan

var families = map[string][]family{
	KindSingleFact:      {dogName, hiveCount, relocation, sisterJob, newCar, allergy, musicTeacher, halfMarathon, mumGift, bikeCommute, eveningCourse, hotelArea, breadWater, novelPick, plantWatering, workoutSets},
	KindMultiSession:    {hivesTotal, countriesVisited, booksFinished, carRepairs, racesRun},
	KindTemporal:        {whichFirst, whenDid, daysBetween},
	KindKnowledgeUpdate: {jobUpdate, hiveUpdate, homeUpdate, fiveKUpdate, catsUpdate, coffeeUpdate, carUpdate},
	KindPreference:      {dietPref, travelPref, readingPref, exercisePref, musicPref, softwarePref},
}

// Single facts stated by the user.

func dogName(g *gen) plan {
	v := kv{"breed": g.word("breed"), "pet": g.word("pet")}
	v["pet2"], v["pet3"] = g.other("pet", v["pet"]), g.other("pet", v["pet"])
	return plan{kind: KindSingleFact,
		question: g.say([]string{"What name did we give our new dog?", "What's the name of the puppy my family adopted?", "What do we call the pup we brought home?"}, v),
		parts: []part{g.userPart([]string{
			"We finally brought home a {breed} puppy on Saturday, and the kids settled on calling her {pet}.",
			"Quick update: the little {breed} we adopted is called {pet}, and she has already chewed through a shoe.",
		}, v)},
		distractors: []string{
			g.say([]string{"My neighbour's {breed} is called {pet2} and he howls every time the mail comes."}, v),
			g.say([]string{"{friend} adopted a rescue cat named {pet3} from the shelter last month."}, v),
			g.say([]string{"Do you think a {breed} needs a lot of exercise? Asking because {cousin} wants one."}, v),
		},
		answer: fixed(v["pet"])}
}

func hiveCount(g *gen) plan {
	n := 2 + g.r.IntN(9)
	v := kv{"n": numberWords[n], "m": numberWords[1+g.r.IntN(3)]}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"How many bee colonies am I keeping?", "How many hives do I look after at the moment?", "How many beehives have I got going?"}, v),
		parts: []part{g.userPart([]string{
			"I've got {n} beehives going behind the orchard now, which is honestly more than I can manage.",
			"The apiary is up to {n} boxes of bees this spring, all of them busy on the clover.",
		}, v)},
		distractors: []string{
			g.say([]string{"{friend} keeps a single hive on her balcony in {home} and swears the honey tastes of lime trees."}, v),
			g.say([]string{"My uncle lost {m} colonies to mites over the winter, poor guy."}, v),
			g.say([]string{"The bees at the community garden swarmed last week, it was chaos."}, v),
		},
		answer: fixed(strconv.Itoa(n))}
}

func relocation(g *gen) plan {
	c := g.distinct("city", 3)
	v := kv{"city": c[0], "city2": c[1], "city3": c[2]}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"Which city did I move to?", "Where did my partner and I end up moving?", "What town do I live in since the move?"}, v),
		parts: []part{g.userPart([]string{
			"We relocated to {city} in {month} for {partner}'s job, and I'm still learning which tram goes where.",
			"Since we packed up and settled in {city}, my commute has been half as long.",
		}, v)},
		distractors: []string{
			g.say([]string{"{brother} keeps saying he'll move to {city2} someday, but he never does."}, v),
			g.say([]string{"We might take a weekend trip to {city3}, have you heard good things about it?"}, v),
			g.say([]string{"{friend} just moved into a new flat across town and I helped carry boxes all day."}, v),
		},
		answer: fixed(v["city"])}
}

func sisterJob(g *gen) plan {
	j, c := g.distinct("job", 2), g.distinct("company", 2)
	v := kv{"job": j[0], "company": c[0], "job2": j[1], "company2": c[1]}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"What new position did my sister get?", "Where is my sibling working now, and in what role?"}, v),
		parts: []part{g.userPart([]string{
			"{sister} (my little sis) just landed a job as a {job} at {company}!",
			"Guess what, {sister} got the offer from {company}, she starts as a {job} next month.",
		}, v)},
		distractors: []string{
			g.say([]string{"{friend} is interviewing for a {job2} role at {company}, fingers crossed."}, v),
			g.say([]string{"{sister} and I went to the farmers market on Sunday and bought far too many peaches."}, v),
			g.say([]string{"My cousin {cousin} works as a {job} too, at {company2}."}, v),
		},
		answer: fixed(v["job"] + " at " + v["company"])}
}

func newCar(g *gen) plan {
	c := g.distinct("car", 3)
	v := kv{"car": c[0], "car2": c[1], "car3": c[2], "color": g.word("color")}
	v["color2"] = g.other("color", v["color"])
	return plan{kind: KindSingleFact,
		question: g.say([]string{"What vehicle am I driving these days?", "Which model did I buy when I replaced my hatchback?"}, v),
		parts: []part{g.userPart([]string{
			"Traded the old hatchback in and drove home a {color} {car} yesterday.",
			"So I finally bought a {color} {car}, second-hand but only twenty thousand on the clock.",
		}, v)},
		distractors: []string{
			g.say([]string{"{partner}'s {car2} needs new tyres before winter."}, v),
			g.say([]string{"I rented a {color2} {car3} on the trip last year and hated the seats."}, v),
			g.say([]string{"{boss} keeps bragging about her new car, it's getting old."}, v),
		},
		answer: fixed("a " + v["color"] + " " + v["car"])}
}

func allergy(g *gen) plan {
	a := g.distinct("allergen", 2)
	v := kv{"allergen": a[0], "allergen2": a[1]}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"What am I allergic to?", "Which food triggers my allergic reaction?"}, v),
		parts: []part{g.userPart([]string{
			"Turns out the rash was a reaction to {allergen}; the allergist confirmed it on {day}.",
			"The skin-prick test came back and it's {allergen}, so no more of that for me.",
		}, v)},
		distractors: []string{
			g.say([]string{"{friend} can't eat {allergen2}, so we always pick a different restaurant."}, v),
			g.say([]string{"Does {allergen} go well in a salad? {partner} bought a big bag of it."}, v),
		},
		answer: fixed(v["allergen"])}
}

func musicTeacher(g *gen) plan {
	in := g.distinct("instrument", 2)
	v := kv{"instrument": in[0], "instrument2": in[1], "tutor": g.other("name", g.persona["teacher"])}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"Who is my music teacher?", "What's the name of the person who teaches me to play?"}, v),
		parts: []part{g.userPart([]string{
			"My {instrument} lessons with {teacher} are going great, she says my timing is finally improving.",
			"Had another session with {teacher} today, we spent the whole hour on {instrument} scales.",
		}, v)},
		distractors: []string{
			g.say([]string{"{friend}'s daughter just started {instrument2} with a tutor named {tutor}."}, v),
			g.say([]string{"I listened to a {instrument} concerto on the train and got goosebumps."}, v),
		},
		answer: fixed(g.persona["teacher"])}
}

func halfMarathon(g *gen) plan {
	c := g.distinct("city", 2)
	v := kv{"city": c[0], "city2": c[1], "time": fmt.Sprintf("1:%02d", 38+g.r.IntN(20)), "time2": fmt.Sprintf("3:%02d", 30+g.r.IntN(29))}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"What's my personal record for the 21k?", "How fast did I finish the half?"}, v),
		parts: []part{g.userPart([]string{
			"Crossed the finish line of the {city} half marathon in {time}, a personal best!",
			"Official result from the {city} half is in: {time}. My legs are jelly.",
		}, v)},
		distractors: []string{
			g.say([]string{"{brother} ran the full marathon in {time2} and hasn't stopped talking about it."}, v),
			g.say([]string{"I'm thinking of signing up for a 10k in {city2} in {month}."}, v),
		},
		answer: fixed(v["time"])}
}

func mumGift(g *gen) plan {
	gi := g.distinct("gift", 2)
	v := kv{"gift": gi[0], "gift2": gi[1]}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"What present did I give my mother?", "What did I end up buying my mom for her birthday?"}, v),
		parts: []part{g.userPart([]string{
			"For Mum's birthday I ended up getting her {gift}, and she loved it.",
			"Mum turned sixty on {day}! I got her {gift}, which made her cry a little.",
		}, v)},
		distractors: []string{
			g.say([]string{"{partner} bought {friend} {gift2} for her housewarming."}, v),
			g.say([]string{"I need a birthday idea for my boss {boss}, something under thirty."}, v),
		},
		answer: fixed(v["gift"])}
}

func bikeCommute(g *gen) plan {
	n := 15 + 5*g.r.IntN(7)
	v := kv{"n": strconv.Itoa(n), "n2": strconv.Itoa(n + 25)}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"How long is my bike ride to work?", "How many minutes does my cycle to the job take?"}, v),
		parts: []part{g.userPart([]string{
			"Cycling to the office takes me about {n} minutes each way now that the bridge reopened.",
			"I timed it: {n} minutes door to desk on the bicycle.",
		}, v)},
		distractors: []string{
			g.say([]string{"The train to see {brother} took almost {n2} minutes because of delays."}, v),
			g.say([]string{"{partner} drives to work and it takes forever in the rain."}, v),
		},
		answer: fixed(v["n"] + " minutes")}
}

func eveningCourse(g *gen) plan {
	s := g.distinct("subject", 2)
	v := kv{"subject": s[0], "subject2": s[1]}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"What subject am I studying at night school?", "Which class did I sign up for after work?"}, v),
		parts: []part{g.userPart([]string{
			"I enrolled in an evening course in {subject} at the community college, Tuesdays and Thursdays.",
			"My {subject} evening classes start next week and I already bought the textbook.",
		}, v)},
		distractors: []string{
			g.say([]string{"{friend} is doing a weekend workshop in {subject2}."}, v),
			g.say([]string{"I've been meaning to take up {subject2} for years."}, v),
		},
		answer: fixed(v["subject"])}
}

// Single facts the assistant stated: the question asks what "you" said.

func assistantPart(user, assistant string) part {
	return part{user: user, assistant: assistant, evidence: "assistant"}
}

func hotelArea(g *gen) plan {
	h := g.distinct("hood", 2)
	v := kv{"hood": h[0], "hood2": h[1], "city": g.word("city")}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"Remind me, which area did you recommend I book a hotel in?", "Where did you say I should stay on my trip?"}, v),
		parts: []part{assistantPart(
			g.say([]string{"I'll be in {city} for three days in {month}. Which part of town should I base myself in?"}, v),
			g.say([]string{"For a first visit I'd base myself in {hood}: it's walkable, close to the old centre and full of small cafés. {hood2} is cheaper but a long way out."}, v))},
		distractors: []string{
			g.say([]string{"{friend} stayed in {hood2} and said it was noisy at night."}, v),
		},
		answer: fixed(v["hood"])}
}

func breadWater(g *gen) plan {
	flour, pct := 400+50*g.r.IntN(5), 65+5*g.r.IntN(4)
	v := kv{"flour": strconv.Itoa(flour), "water": strconv.Itoa(flour * pct / 100)}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"How much water did you tell me to use for the loaf?", "What hydration amount did you give me for my sourdough, in grams of liquid?"}, v),
		parts: []part{assistantPart(
			"I want to bake my first sourdough this weekend. What amounts should I start with?",
			g.say([]string{"Start with {flour} g of bread flour, {water} g of water, 100 g of active starter and 9 g of salt. Mix, rest an hour, then do four sets of stretch and folds."}, v))},
		distractors: []string{
			g.say([]string{"{partner} made banana bread and used way too much flour, it was like a brick."}, v),
		},
		answer: fixed(v["water"] + " g")}
}

func novelPick(g *gen) plan {
	b := g.distinct("book", 2)
	v := kv{"book": b[0], "book2": b[1], "author": g.word("author")}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"What was the novel you suggested to me?", "Which book did you recommend when I asked for a mystery?"}, v),
		parts: []part{assistantPart(
			"I want a slow mystery for the holidays, nothing too gory. Any suggestion?",
			g.say([]string{"You might enjoy '{book}' by {author}: a slow-burn puzzle set in a remote lighthouse, with almost no violence on the page."}, v))},
		distractors: []string{
			g.say([]string{"My book club picked '{book2}' and honestly I couldn't finish it."}, v),
		},
		answer: fixed(v["book"])}
}

func plantWatering(g *gen) plan {
	n := 5 + g.r.IntN(10)
	v := kv{"n": strconv.Itoa(n)}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"How often did you say I should water the Swiss cheese plant?", "What watering schedule did you give me for my big leafy houseplant?"}, v),
		parts: []part{assistantPart(
			"I just got a monstera for the living room. How often does it need water?",
			g.say([]string{"Water your monstera roughly every {n} days, when the top few centimetres of soil are dry, and less in winter."}, v))},
		distractors: []string{
			g.say([]string{"My {plant} is looking sad again, I think I keep forgetting to water it."}, v),
		},
		answer: fixed("every " + v["n"] + " days")}
}

func workoutSets(g *gen) plan {
	n := 3 + g.r.IntN(3)
	e := g.distinct("exercise", 2)
	v := kv{"n": numberWords[n], "exercise": e[0], "exercise2": e[1], "reps": strconv.Itoa(8 + 2*g.r.IntN(4))}
	return plan{kind: KindSingleFact,
		question: g.say([]string{"How many rounds of {exercise} did you suggest?", "In the home routine you gave me, how many times do I repeat the {exercise}?"}, v),
		parts: []part{assistantPart(
			"Can you give me a short strength routine I can do at home with no equipment?",
			g.say([]string{"Try {n} sets of {reps} {exercise}, then two sets of {exercise2}, resting a minute between sets, three days a week."}, v))},
		distractors: []string{
			g.say([]string{"{friend} does {exercise2} every morning before work, she's unstoppable."}, v),
		},
		answer: fixed(strconv.Itoa(n))}
}

// Multi-session: the answer combines two or three statements.

func hivesTotal(g *gen) plan {
	a, b := 2+g.r.IntN(4), 1+g.r.IntN(3)
	v := kv{"a": numberWords[a], "b": numberWords[b], "c": numberWords[1+g.r.IntN(3)]}
	parts := []part{
		g.userPart([]string{"I set up {a} hives at my parents' farm this spring.", "There are {a} colonies at my parents' place now, all doing well."}, v),
		g.userPart([]string{"I added {b} more boxes of bees at the allotment today.", "Started {b} new colonies at the allotment, separate from the farm ones."}, v),
	}
	total := a + b
	if g.r.IntN(2) == 0 {
		parts = append(parts, g.userPart([]string{"{friend} gave me a swarm she caught, so there's one more hive in our back garden."}, v))
		total++
	}
	return plan{kind: KindMultiSession,
		question: g.say([]string{"How many beehives do I have in total across all my sites?", "Counting every apiary, how many colonies am I keeping?", "How many hives do I have altogether now?"}, v),
		parts:    parts,
		distractors: []string{
			g.say([]string{"My neighbour has {c} hives and keeps offering me honey."}, v),
		},
		answer: fixed(strconv.Itoa(total))}
}

func countriesVisited(g *gen) plan {
	c := g.distinct("country", 4)
	v := kv{"c1": c[0], "c2": c[1], "c3": c[2], "c4": c[3]}
	return plan{kind: KindMultiSession,
		question: g.say([]string{"Which countries have I been to on holiday this year?", "List the places abroad I travelled to recently.", "Where did I take trips to lately?"}, v),
		parts: []part{
			g.userPart([]string{"Just back from ten days in {c1}, the food alone was worth it.", "We spent a week in {c1}; I'm still jet-lagged."}, v),
			g.userPart([]string{"Our trip to {c2} was short but we saw so much.", "Landed back from {c2} last night, totally exhausted."}, v),
		},
		distractors: []string{
			g.say([]string{"{brother} is planning a trip to {c3} next year."}, v),
			g.say([]string{"I'd love to visit {c4} someday, have you been?"}, v),
		},
		answer: fixed(v["c1"] + " and " + v["c2"])}
}

func booksFinished(g *gen) plan {
	b := g.distinct("book", 4)
	v := kv{"b1": b[0], "b2": b[1], "b3": b[2], "b4": b[3]}
	parts := []part{
		g.userPart([]string{"Finally finished '{b1}', what an ending.", "I stayed up until two to get through the last chapters of '{b1}'."}, v),
		g.userPart([]string{"Just wrapped up '{b2}' on the train this morning.", "Done with '{b2}', it was slower than I expected but worth it."}, v),
	}
	answer := "2: " + v["b1"] + ", " + v["b2"]
	if g.r.IntN(2) == 0 {
		parts = append(parts, g.userPart([]string{"Read '{b3}' in one sitting yesterday."}, v))
		answer = "3: " + v["b1"] + ", " + v["b2"] + ", " + v["b3"]
	}
	return plan{kind: KindMultiSession,
		question: g.say([]string{"How many novels have I completed lately, and which ones?", "Which books did I get through recently?"}, v),
		parts:    parts,
		distractors: []string{
			g.say([]string{"{friend} lent me '{b4}' but I haven't started it."}, v),
		},
		answer: fixed(answer)}
}

func carRepairs(g *gen) plan {
	a, b := 80+10*g.r.IntN(30), 150+10*g.r.IntN(40)
	v := kv{"a": strconv.Itoa(a), "b": strconv.Itoa(b), "c": strconv.Itoa(20 + g.r.IntN(50))}
	return plan{kind: KindMultiSession,
		question: g.say([]string{"How much have I paid in total to fix my car?", "What did the garage bills come to altogether?", "What did the car repairs cost me in total?"}, v),
		parts: []part{
			g.userPart([]string{"New tyres on the car cost me ${a}, ouch.", "The mechanic charged ${a} to replace the front tyres."}, v),
			g.userPart([]string{"The brake job came to ${b}. Cars are a money pit.", "Paid ${b} for new brake pads and discs today."}, v),
		},
		distractors: []string{
			g.say([]string{"{partner} spent ${c} on a car wash subscription, can you believe it."}, v),
		},
		answer: fixed("$" + strconv.Itoa(a+b))}
}

func racesRun(g *gen) plan {
	c := g.distinct("city", 3)
	v := kv{"c1": c[0], "c2": c[1], "c3": c[2]}
	return plan{kind: KindMultiSession,
		question: g.say([]string{"How many races have I taken part in, and where were they?", "Where did I compete in running events?", "Which cities did I run races in?"}, v),
		parts: []part{
			g.userPart([]string{"Ran the {c1} 5k this morning, lovely course along the river."}, v),
			g.userPart([]string{"Did the 10k in {c2} today, hilly but fun."}, v),
		},
		distractors: []string{
			g.say([]string{"{brother} wants to run a marathon in {c3}."}, v),
		},
		answer: fixed("2: " + v["c1"] + " and " + v["c2"])}
}

// Temporal: the answer needs the dates of the sessions.

type event struct{ said, label string }

var events = []event{
	{"I had my first pottery class this evening, my bowl looks like a hat.", "begin ceramics lessons"},
	{"We picked up the new kitten from the shelter today!", "get the kitten"},
	{"Today I handed in my resignation letter. Terrifying.", "quit my job"},
	{"Got my braces off this morning, I can't stop smiling.", "have the orthodontic brackets removed"},
	{"Signed the lease on the new flat today.", "sign the rental contract"},
	{"My renewed passport finally arrived in the post today.", "receive the new travel document"},
	{"Planted the tomato seedlings in the raised beds this afternoon.", "put the tomatoes in the ground"},
	{"Passed my driving test on the second attempt today!", "get my licence"},
	{"Booked the venue for {partner}'s surprise party today.", "reserve the place for the surprise celebration"},
	{"I donated blood for the first time this morning.", "give blood"},
}

func (g *gen) events(n int) []event {
	idx := g.r.Perm(len(events))[:n]
	out := make([]event, n)
	for i, j := range idx {
		out[i] = event{g.fill(events[j].said, nil, nil), g.fill(events[j].label, nil, nil)}
	}
	return out
}

func eventPart(e event, g *gen) part {
	return part{user: e.said, assistant: g.pick(acks), evidence: "user"}
}

func whichFirst(g *gen) plan {
	e := g.events(3)
	// e[0] and e[1] land in chronological order; which is named first in
	// the question is random, so the answer is not always the first named.
	a, b := e[0].label, e[1].label
	if g.r.IntN(2) == 0 {
		a, b = b, a
	}
	return plan{kind: KindTemporal,
		question:    fmt.Sprintf("Which happened first: did I %s, or did I %s?", a, b),
		parts:       []part{eventPart(e[0], g), eventPart(e[1], g)},
		distractors: []string{"I keep meaning to " + e[2].label + " but never find the time."},
		answer:      fixed(e[0].label)}
}

func whenDid(g *gen) plan {
	e := g.events(2)
	return plan{kind: KindTemporal,
		question:    fmt.Sprintf("On what date did I %s?", e[0].label),
		parts:       []part{eventPart(e[0], g)},
		distractors: []string{g.fill("{friend} asked when I'm going to "+e[1].label+".", nil, nil)},
		answer:      func(d []time.Time) string { return d[0].Format("2006-01-02") }}
}

func daysBetween(g *gen) plan {
	e := g.events(2)
	return plan{kind: KindTemporal,
		question: fmt.Sprintf("How many days passed between when I %s and when I %s?", e[0].label, e[1].label),
		parts:    []part{eventPart(e[0], g), eventPart(e[1], g)},
		answer: func(d []time.Time) string {
			return strconv.Itoa(int(d[1].Truncate(24*time.Hour).Sub(d[0].Truncate(24*time.Hour)).Hours() / 24))
		}}
}

// Knowledge updates: an old value, then a new one; the answer is the new.

func update(g *gen, v kv, question []string, old, current []string, distractors []string, answer string) plan {
	o := g.userPart(old, v)
	o.evidence, o.superseded = "", true
	ds := make([]string, len(distractors))
	for i, d := range distractors {
		ds[i] = g.fill(d, v, nil)
	}
	return plan{kind: KindKnowledgeUpdate, question: g.say(question, v),
		parts: []part{o, g.userPart(current, v)}, distractors: ds, answer: fixed(answer)}
}

func jobUpdate(g *gen) plan {
	j, c := g.distinct("job", 3), g.distinct("company", 3)
	v := kv{"job1": j[0], "job2": j[1], "job3": j[2], "c1": c[0], "c2": c[1], "c3": c[2]}
	return update(g, v,
		[]string{"Where am I employed these days?", "What's my current role, and at which firm?", "Where am I working these days?"},
		[]string{"Still working as a {job1} at {c1}, the hours are long but the team is nice.", "Another week as a {job1} at {c1}, I'm shattered."},
		[]string{"Big news: I left {c1}, and I'm now a {job2} at {c2}.", "First day at {c2} today! Being a {job2} is going to take some getting used to."},
		[]string{"{friend} just got hired as a {job3} at {c3}."},
		v["job2"]+" at "+v["c2"])
}

func hiveUpdate(g *gen) plan {
	a := 4 + g.r.IntN(6)
	b := a - 1 - g.r.IntN(3)
	v := kv{"a": numberWords[a], "b": numberWords[b]}
	return update(g, v,
		[]string{"How many colonies do I have currently?", "What's my bee count at this point?", "How many hives do I have now?"},
		[]string{"I'm running {a} hives now, the most I've ever had."},
		[]string{"After the winter losses I'm down to {b} hives.", "Lost a few to mites, so only {b} hives made it through."},
		[]string{"{friend} wants to split one of her hives and give me the extra."},
		strconv.Itoa(b))
}

func homeUpdate(g *gen) plan {
	c := g.distinct("city", 3)
	v := kv{"c1": c[0], "c2": c[1], "c3": c[2]}
	return update(g, v,
		[]string{"Where do I live now?", "Which city is my home at the moment?", "Which city have we settled in?"},
		[]string{"Life in {c1} is good, I love my little flat near the park."},
		[]string{"The move is done, we're officially settled in {c2}!", "We relocated to {c2} last weekend, boxes everywhere."},
		[]string{"{brother} visited {c3} and loved it.", "I miss the bakeries in {c1} already."},
		v["c2"])
}

func fiveKUpdate(g *gen) plan {
	a := 24 + g.r.IntN(6)
	b := a - 1 - g.r.IntN(2)
	v := kv{"t1": fmt.Sprintf("%d:%02d", a, g.r.IntN(60)), "t2": fmt.Sprintf("%d:%02d", b, g.r.IntN(60)), "t3": fmt.Sprintf("%d:%02d", a+3, g.r.IntN(60))}
	return update(g, v,
		[]string{"What's my fastest time over five kilometres now?", "What is my current 5 km record?", "What is my 5k personal best now?"},
		[]string{"My 5k PB is {t1}, I'd love to get under that this year."},
		[]string{"New personal best at parkrun: {t2}!", "Smashed my 5k record this morning, {t2}."},
		[]string{"{partner} ran a 5k in {t3} without training, so annoying."},
		v["t2"])
}

func catsUpdate(g *gen) plan {
	p := g.distinct("pet", 3)
	v := kv{"p1": p[0], "p2": p[1], "p3": p[2]}
	return update(g, v,
		[]string{"How many cats do I own now?", "How many felines live with me at the moment?"},
		[]string{"We have two cats, {p1} and {p2}, and they rule the house."},
		[]string{"We adopted a third cat, {p3}, so now it's three of them against us.", "{p3} joined the family this week, that makes three cats."},
		[]string{"{friend}'s cat had kittens and she's trying to find homes for them."},
		"3")
}

func coffeeUpdate(g *gen) plan {
	a := 4 + g.r.IntN(3)
	b := 1 + g.r.IntN(2)
	v := kv{"a": numberWords[a], "b": numberWords[b]}
	return update(g, v,
		[]string{"How much coffee am I having daily these days?", "How many espressos do I drink per day now?", "How many cups of coffee do I drink a day now?"},
		[]string{"I'm on {a} cups of coffee a day, probably too many."},
		[]string{"I've cut down to {b} cups a day and I'm sleeping so much better.", "Down to {b} coffees a day now, the headaches are gone."},
		[]string{"{boss} drinks coffee all day, I don't know how she sleeps."},
		strconv.Itoa(b))
}

func carUpdate(g *gen) plan {
	c := g.distinct("car", 3)
	v := kv{"c1": c[0], "c2": c[1], "c3": c[2]}
	return update(g, v,
		[]string{"What car do I have at the moment?", "What am I driving now?", "Which car did I buy most recently?"},
		[]string{"My {c1} is ten years old but still runs like a dream."},
		[]string{"Sold the {c1} and bought a {c2}.", "Picked up my {c2} today, goodbye old {c1}."},
		[]string{"{partner} test-drove a {c3} at the weekend."},
		v["c2"])
}

// Preferences: the question asks for help and the answer is a rubric the
// help must follow; the evidence shares almost no words with the question.

func preference(g *gen, v kv, question, said []string, distractors []string, rubric string) plan {
	ds := make([]string, len(distractors))
	for i, d := range distractors {
		ds[i] = g.fill(d, v, nil)
	}
	return plan{kind: KindPreference, question: g.say(question, v),
		parts: []part{g.userPart(said, v)}, distractors: ds, answer: fixed(g.fill(rubric, v, nil))}
}

func dietPref(g *gen) plan {
	v := kv{"dislike": g.pick([]string{"mushrooms", "cilantro", "olives", "aubergine"})}
	return preference(g, v,
		[]string{"Could you suggest something I could cook for dinner tonight?", "Any ideas for a meal this evening?"},
		[]string{"I've been fully vegetarian for years, and I really can't stand {dislike}.", "No meat for me, ever, and please never put {dislike} near my plate."},
		[]string{"{partner} loves {dislike} on everything.", "{friend} is trying a meat-heavy diet for the gym."},
		"vegetarian, without {dislike}")
}

func travelPref(g *gen) plan {
	return preference(g, kv{},
		[]string{"Any ideas for my long weekend away?", "Where should I go for a few days off?"},
		[]string{"I hate crowded tourist spots; give me quiet mountain trails and a cabin any day.", "Big cities exhaust me, I'm happiest somewhere remote with good hiking."},
		[]string{"{brother} only travels to big cities for the nightlife."},
		"quiet, remote, nature and hiking; not crowded tourist cities")
}

func readingPref(g *gen) plan {
	return preference(g, kv{},
		[]string{"What should I read next?", "Can you recommend a book for my holiday?"},
		[]string{"I love hard science fiction, especially anything about space exploration; romance plots bore me.", "Give me spaceships and real physics; love stories put me to sleep."},
		[]string{"{sister} reads nothing but romance novels."},
		"hard science fiction about space; no romance")
}

func exercisePref(g *gen) plan {
	return preference(g, kv{},
		[]string{"Can you put together a workout routine for me?", "How should I train this month to get fitter?"},
		[]string{"Running wrecks my knees, so I stick to swimming and cycling.", "My knees can't take pounding the pavement; the pool and the bike are my thing."},
		[]string{"{friend} is training for a marathon and runs every day."},
		"low-impact: swimming and cycling; no running")
}

func musicPref(g *gen) plan {
	return preference(g, kv{},
		[]string{"Recommend some albums for my commute?", "What should I listen to on the train?"},
		[]string{"I mostly listen to jazz piano, Bill Evans is my favourite.", "Nothing beats a quiet jazz trio with the piano up front for me."},
		[]string{"{partner} blasts heavy metal in the car."},
		"jazz piano, in the vein of Bill Evans")
}

func softwarePref(g *gen) plan {
	return preference(g, kv{},
		[]string{"Which video editing software should I try?", "What program would you suggest for cutting my holiday footage?"},
		[]string{"I'm on an old Linux laptop and refuse to pay for subscriptions.", "Everything I use has to run on Linux and be free; I don't do subscriptions."},
		[]string{"{boss} edits everything on a brand-new Mac."},
		"free, runs on Linux, no subscription (e.g. Kdenlive, Shotcut)")
}
